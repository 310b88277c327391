"""`codegen-hook dataset build | show` over the library: output, --json, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codegen_hook.cli import main
from tests.finetune.test_dataset import PASSWORD, make_repo

Capsys = pytest.CaptureFixture[str]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    return root


def test_build_json_then_show_json(repo: Path, capsys: Capsys) -> None:
    assert main(["dataset", "build", "--heldout", "0.3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kept"] == summary["train"] + summary["heldout"] == 14
    assert summary["skipped"]["test-file"] == 2 and summary["redactions"] == 2
    assert Path(summary["folder"]).is_dir() and summary["root"] == str(repo)

    assert main(["dataset", "show", "--split", "heldout", "--limit", "1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["split"] == "heldout" and shown["total"] == summary["heldout"]
    assert len(shown["pairs"]) == 1
    assert set(shown["pairs"][0]) == {"id", "path", "qualname", "stub", "code", "split"}
    assert shown["summary"]["kept"] == summary["kept"]


def test_build_and_show_as_text(repo: Path, capsys: Capsys) -> None:
    assert main(["dataset", "build", str(repo)]) == 0
    captured = capsys.readouterr()
    assert "14 pairs from 22 functions in 14 files" in captured.out
    assert "secrets redacted 2" in captured.out and "stored encrypted in" in captured.out
    assert "cutting functions into pairs" in captured.err  # progress goes to stderr
    assert main(["dataset", "show"]) == 0
    out = capsys.readouterr().out
    assert "train split of" in out and "--- stub" in out and "--- code" in out
    assert PASSWORD not in out


def test_errors_exit_2_with_the_fix(repo: Path, tmp_path: Path, capsys: Capsys) -> None:
    assert main(["dataset", "show"]) == 2
    assert "`codegen-hook dataset build" in capsys.readouterr().err
    assert main(["dataset", "build", "--heldout", "1.5"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
    assert main(["dataset", "build", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["dataset", "show", "--limit", "-1"]) == 2
    assert "--limit" in capsys.readouterr().err


def test_one_file_leaves_heldout_empty_and_says_so(tmp_path: Path, capsys: Capsys) -> None:
    one = make_repo(tmp_path / "one", {"only.py": "def f(x):\n    y = x * 2\n    return y\n"})
    assert main(["dataset", "build", str(one)]) == 0
    captured = capsys.readouterr()
    assert "held-out 0 (0 files)" in captured.out
    assert "held-out split is empty" in captured.err
