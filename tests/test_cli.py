"""The command line over the library: exit codes, --json, errors, help."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.cli import build_parser, main
from tests.conftest import CLI_STUB as STUB

RIGHT = "```python\ndef count_chars(s: str, char: str) -> int:\n    return s.count(char)\n```"
README = Path(__file__).resolve().parents[1] / "README.md"


def test_fill_writes_then_has_nothing_to_do(repo: Path, scripted: ScriptedBackend,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    scripted.enqueue(RIGHT)
    assert main(["fill", "strings.py"]) == 1
    out = capsys.readouterr().out
    assert "verified" in out and "review the diff, stage it and commit again" in out
    assert "return s.count(char)" in (repo / "strings.py").read_text()
    assert main(["fill", "strings.py"]) == 0
    assert scripted.queue == [] and len(scripted.requests) == 1


def test_fill_json_is_one_document(repo: Path, scripted: ScriptedBackend,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    scripted.enqueue(RIGHT)
    assert main(["fill", "--check", "--json", "strings.py"]) == 0
    data = json.loads(capsys.readouterr().out)
    [stub] = data["stubs"]
    assert stub["verdict"] == "verified" and stub["written"] is False
    assert data["changed_files"] == [] and data["check_only"] is True
    assert (repo / "strings.py").read_text() == STUB


def test_unverified_blocks_unless_warn(repo: Path, scripted: ScriptedBackend,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    scripted.enqueue("no idea", "still no idea")
    assert main(["fill", "strings.py"]) == 1
    assert "commit is blocked" in capsys.readouterr().out
    assert main(["fill", "--on-failure", "warn", "strings.py"]) == 0
    assert (repo / "strings.py").read_text() == STUB


def test_config_error_exits_2_with_the_fix(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "pyproject.toml").write_text('[tool.codegen-hook]\nmax-roundz = 2\n')
    assert main(["fill", "strings.py"]) == 2
    err = capsys.readouterr().err
    assert "unknown setting 'max-roundz'" in err and "max_rounds" in err


def test_missing_model_fails_the_stub_and_names_the_fix(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fill", "--model", str(repo / "nope.gguf"), "strings.py"]) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "nope.gguf" in out and "--model" in out
    assert (repo / "strings.py").read_text() == STUB


def test_exec_runs_in_the_sandbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "hello.py"
    script.write_text("import os\nprint('uid', os.getuid())\n")
    assert main(["exec", str(script), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "ok" and data["sandbox"] == "bwrap"
    assert data["stdout"].startswith("uid ") and data["stdout"].strip() != "uid 0"


def test_exec_timeout_is_a_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "spin.py"
    script.write_text("while True:\n    pass\n")
    assert main(["exec", str(script), "--timeout", "1"]) == 1
    assert "timeout" in capsys.readouterr().err


def test_exec_unreadable_file_is_a_clear_error(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exec", str(tmp_path / "missing.py")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_unsafe_flag_warns_loudly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "hello.py"
    script.write_text("print('hi')\n")
    assert main(["exec", str(script), "--unsafe-no-sandbox"]) == 0
    captured = capsys.readouterr()
    assert "WARNING" in captured.err and "hi" in captured.out


def test_doctor_reports_each_layer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json"]) == 0
    rows = {r["layer"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["sandbox bwrap"]["status"] == "active"
    assert rows["backend llama-cpp"]["status"] == "ready"
    assert "sandbox docker" in rows


def test_readme_commands_match_the_cli() -> None:
    """Every `codegen-hook SUB --flag` the README shows exists in the parser."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "fill" in a.choices)
    text = README.read_text()
    used = re.findall(r"(?:`|bin/)codegen-hook (\w+)([^`\n|]*)", text)
    assert used, "README shows no codegen-hook commands"
    for sub, rest in used:
        assert sub in subparsers.choices, f"README uses unknown subcommand {sub}"
        parser_for = subparsers.choices[sub]
        nested = next((a for a in parser_for._actions if a.choices and not a.option_strings),
                      None)
        words = rest.split()
        if nested is not None and words and words[0] in nested.choices:
            parser_for = nested.choices[words[0]]
        known = {opt for a in parser_for._actions for opt in a.option_strings}
        for flag in re.findall(r"(--[\w-]+)", rest):
            assert flag in known, f"README uses unknown flag {sub} {flag}"
    other = text.split("Other `fill` flags:", 1)[1].split("\n\n", 1)[0]
    fill_flags = {opt for a in subparsers.choices["fill"]._actions for opt in a.option_strings}
    listed = set(re.findall(r"(--[\w-]+)", other))
    assert listed and listed <= fill_flags, listed - fill_flags


HELPER = ('def slugify(title: str) -> str:\n    """Turn a title into a URL slug."""\n'
          '    return "-".join(title.lower().split())\n')


def test_index_then_nothing_to_parse_then_export(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "text.py").write_text(HELPER)
    (repo / "broken.py").write_text("def oops(:\n")
    assert main(["index"]) == 0
    out = capsys.readouterr().out
    assert "broken.py: skipped: syntax error on line 1" in out
    assert "indexed 2 files" in out and "2 parsed" in out
    assert main(["index", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["parsed"] == 0 and report["reused"] == 2 and report["files"] == 2
    assert main(["index", "--export", "json", "-o", "out.json"]) == 0
    exported = json.loads((repo / "out.json").read_text())
    assert exported["format"] == "codegen-hook-index/1"
    assert [f["path"] for f in exported["files"]] == ["strings.py", "text.py"]
    assert exported["files"][1]["symbols"][0]["signature"] == "def slugify(title: str) -> str"
    assert exported["skipped"][0]["path"] == "broken.py"


def test_index_of_a_missing_folder_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_search_says_what_matched(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "text.py").write_text(HELPER)
    assert main(["search", "url slug of a title"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(" 1.") and "text.py:1  slugify" in out
    assert "matched" in out and "slug" in out
    assert main(["search", "url slug", "--json", "-k", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["qualname"] for r in data["results"]] == ["slugify"]
    assert main(["search", "zzyzx"]) == 0
    assert "nothing in" in capsys.readouterr().out


def test_style_prints_the_profile_and_json(repo: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "text.py").write_text(HELPER)
    (repo / "setup.cfg").write_text("[flake8]\nmax-line-length = 88\n")
    assert main(["style"]) == 0
    out = capsys.readouterr().out
    assert "max 88" in out and "setup.cfg" in out
    assert main(["style", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["line_length"]["max"] == 88
