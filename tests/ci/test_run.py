"""The CI bot end to end: real git (a bare origin and a clone at the PR's head), the
scripted backend, the real bwrap sandbox, the recording forge."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pygit2
import pytest

from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.checks import make_checks
from codegen_hook.ci.run import CiOptions, CiResult, run_ci
from codegen_hook.cli import main
from codegen_hook.config import Settings
from codegen_hook.errors import ForgeError
from codegen_hook.forges.fake import RecordingForge
from codegen_hook.isolation.bwrap import BwrapSandbox

GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
OLD = '''def old(x: int) -> int:
    """An old stub: not this change's business.

    >>> old(1)
    1
    """
    ...
'''
NEW = '''

def inc(x: int) -> int:
    """Add one.

    >>> inc(1)
    2
    """
    ...


def dec(x: int) -> int:
    """Subtract one.

    >>> dec(1)
    0
    """
    ...
'''
SETTINGS = Settings(candidates=1, max_rounds=1, checks=("flake8",), generated_tests=False,
                    sandbox="bwrap", audit=False, index=False)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


def fence(sig: str, body: str) -> str:
    return f"```python\n{sig}\n    {body}\n```"


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path, str, str]:
    """origin.git (main, feature) and a clone at feature's head, detached as CI checks out."""
    seed = tmp_path / "seed"
    seed.mkdir()
    git("init", "-q", "-b", "main", cwd=seed)
    (seed / "mod.py").write_text(OLD)
    (seed / "notes.txt").write_text("hello\n")
    git("add", ".", cwd=seed)
    git("commit", "-qm", "base", cwd=seed)
    base = git("rev-parse", "HEAD", cwd=seed)
    git("checkout", "-qb", "feature", cwd=seed)
    (seed / "mod.py").write_text(OLD + NEW)
    (seed / "notes.txt").write_text("hello again\n")
    git("commit", "-qam", "add two stubs", cwd=seed)
    head = git("rev-parse", "HEAD", cwd=seed)
    origin = tmp_path / "origin.git"
    git("clone", "-q", "--bare", str(seed), str(origin), cwd=tmp_path)
    work = tmp_path / "work"
    git("clone", "-q", f"file://{origin}", str(work), cwd=tmp_path)
    git("checkout", "-q", "--detach", head, cwd=work)
    return work, origin, base, head


def ci(work: Path, mode: str, answers: list[str], forge: RecordingForge | None,
       **options: object) -> CiResult:
    base, head = git("rev-parse", "origin/main", cwd=work), git("rev-parse", "HEAD", cwd=work)
    chosen = CiOptions(base=base, head=head, mode=mode, out_dir=work.parent / "out",
                       **options)  # type: ignore[arg-type]
    return run_ci(work, SETTINGS, chosen,
                  cache_dir=work.parent / "cache", make_backend=lambda: ScriptedBackend(answers),
                  make_sandbox=BwrapSandbox, checks=make_checks(SETTINGS.checks),
                  make_forge=(lambda: forge) if forge is not None else None)


RIGHT_INC = fence("def inc(x: int) -> int:", "return x + 1")
WRONG_DEC = fence("def dec(x: int) -> int:", "return x")


def test_review_suggests_on_the_stub_lines_and_leaves_the_checkout_clean(
        world: tuple[Path, Path, str, str]) -> None:
    work, _, _, head = world
    forge = RecordingForge()
    result = ci(work, "review", [RIGHT_INC, WRONG_DEC], forge)
    assert [(rel, o.qualname, o.verdict) for rel, o in result.outcomes] == [
        ("mod.py", "inc", "verified"), ("mod.py", "dec", "unverified")]
    [review] = forge.reviews
    [suggestion] = review.suggestions
    lines = (OLD + NEW).splitlines()
    assert lines[suggestion.start_line - 1] == "def inc(x: int) -> int:"
    assert lines[suggestion.end_line - 1] == "    ..." and \
        suggestion.end_line - suggestion.start_line == 6
    assert suggestion.replacement.endswith('    """\n    return x + 1')
    [note] = review.notes
    assert lines[note.line - 1] == "def dec(x: int) -> int:" and "dec(1) returned 1" in note.body
    assert review.head_sha == head and "Filled **1** of **2**" in review.summary
    # the checkout is as the job found it; the patch and report are artifacts
    assert git("rev-parse", "HEAD", cwd=work) == head
    assert git("status", "--porcelain", cwd=work) == ""
    assert result.patch_path is not None and "+    return x + 1" in result.patch_path.read_text()
    report = json.loads(result.report_path.read_text()) if result.report_path else {}
    assert report["counts"] == {"verified": 1, "unverified": 1, "failed": 0}
    assert report["mode"] == "review" and report["published"]["comments"] == 2
    assert [s["written"] for s in report["stubs"]] == [False, False]


def test_commit_pushes_one_commit_on_top_of_the_branch(
        world: tuple[Path, Path, str, str]) -> None:
    work, origin, _, head = world
    result = ci(work, "commit", [RIGHT_INC, WRONG_DEC], None, branch="feature")
    assert result.mode == "commit" and result.commit
    bare = pygit2.Repository(str(origin))
    tip = bare.references["refs/heads/feature"].peel(pygit2.Commit)
    assert str(tip.id) == result.commit and [str(p) for p in tip.parent_ids] == [head]
    assert tip.author.name == "codegen-hook"
    assert "mod.py::inc: verified" in tip.message and "dec" not in tip.message
    text = tip.tree["mod.py"].data.decode()  # type: ignore[attr-defined]
    assert "return x + 1" in text and text.count("    ...\n") == 2   # old and dec stay stubs


def test_commit_without_push_rights_falls_back_to_review(
        world: tuple[Path, Path, str, str]) -> None:
    work, origin, _, head = world
    (origin / "refs" / "heads" / "feature.lock").write_text("")   # the remote refuses
    forge = RecordingForge()
    result = ci(work, "commit", [RIGHT_INC, WRONG_DEC], forge, branch="feature")
    assert result.mode == "review" and len(forge.reviews) == 1
    assert any("delivered as review instead" in n for n in result.notes)
    assert git("rev-parse", "HEAD", cwd=work) == head
    assert str(pygit2.Repository(str(origin)).references["refs/heads/feature"].target) == head


def test_a_forge_that_fails_still_leaves_the_patch(world: tuple[Path, Path, str, str]) -> None:
    work, _, _, _ = world
    result = ci(work, "review", [RIGHT_INC, WRONG_DEC],
                RecordingForge(fail=ForgeError("GitHub answered 502 five times")))
    assert "502" in result.error and "the filled code is in" in result.error
    assert result.patch_path is not None and result.patch_path.is_file()


def test_cli_patch_mode_writes_outputs_for_the_runner(
        world: tuple[Path, Path, str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    work, _, base, head = world
    backend = ScriptedBackend([RIGHT_INC, WRONG_DEC])
    monkeypatch.setattr("codegen_hook.backends.make_backend", lambda *a, **k: backend)
    (work / "pyproject.toml").write_text("")   # keep the checkout clean: settings by env
    git("update-index", "--assume-unchanged", "mod.py", cwd=work)
    (work / "pyproject.toml").unlink()
    for key, value in {"CANDIDATES": "1", "MAX_ROUNDS": "1", "CHECKS": "flake8",
                       "GENERATED_TESTS": "false", "SANDBOX": "bwrap", "INDEX": "false",
                       "AUDIT": "false"}.items():
        monkeypatch.setenv(f"CODEGEN_HOOK_{key}", value)
    outputs, summary = tmp_path / "gh-output", tmp_path / "gh-summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(work)
    code = main(["ci", "--base", base, "--head", head, "--mode", "patch", "--json",
                 "--out", str(tmp_path / "out"), "--fail-on-unverified"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1 and document["counts"] == {"verified": 1, "unverified": 1, "failed": 0}
    assert document["mode"] == "patch" and document["skipped_files"] == [
        {"path": "notes.txt", "why": document["skipped_files"][0]["why"]}]
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert written["verified"] == "1" and written["mode"] == "patch"
    assert written["patch"].endswith("codegen-hook.patch")
    assert "### codegen-hook" in summary.read_text()


def test_credentials_in_the_remote_url_are_not_used_for_the_push(tmp_path: Path) -> None:
    from codegen_hook.ci.run import _push_target

    repo = pygit2.init_repository(str(tmp_path / "r"))
    repo.remotes.create("origin", "https://gitlab-ci-token:SECRET@gitlab.example.com/g/p.git")
    repo.remotes.create("mirror", "file:///srv/mirror.git")
    assert _push_target(tmp_path / "r", "origin") == "https://gitlab.example.com/g/p.git"
    assert _push_target(tmp_path / "r", "mirror") == "mirror"


def test_review_mode_outside_ci_names_the_missing_variable(
        world: tuple[Path, Path, str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    work, _, base, head = world
    for name in ("GITHUB_ACTIONS", "GITLAB_CI", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(work)
    assert main(["ci", "--base", base, "--head", head, "--forge", "github"]) == 2
    assert "GITHUB_REPOSITORY" in capsys.readouterr().err
