"""Canary leak test: a unique string in the user's code must never be written in
plaintext anywhere the tool writes: its data dir, the repo's `.codegen-hook/`, temp
folders. Run through the CLI with the scripted backend, and once with the real model."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import codegen_hook.backends
from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.cli import main

STUB = '''

def shout(text: str) -> str:
    """Upper-case `text` and add an exclamation mark.

    >>> shout("hi")
    'HI!'
    """
    ...
'''
ANSWER = "```python\ndef shout(text: str) -> str:\n    return text.upper() + '!'\n```"


def make_repo(root: Path, canary: str) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.codegen-hook]\ncandidates = 1\n'
                                         'generated_tests = false\n'
                                         'max_rounds = 1\n')
    (root / "helpers.py").write_text(
        f'# {canary} in a comment\nSECRET_NAME = "{canary}"\n\n\n'
        f'def {canary}_helper(x: int) -> int:\n    """Docstring with {canary}."""\n'
        '    return x\n')
    stub = root / "strings.py"
    stub.write_text(f"# module about {canary}\nfrom helpers import {canary}_helper{STUB}")
    return stub


def files_under(folder: Path) -> Iterator[Path]:
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path


def leaks(canary: str, roots: list[Path], skip: set[Path]) -> list[str]:
    needle = canary.encode()
    found = []
    for root in roots:
        for path in files_under(root):
            if path in skip:
                continue
            try:
                if needle in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


def run_and_check(tmp_path: Path, canary: str, argv_extra: list[str]) -> None:
    repo = tmp_path / "repo"
    stub = make_repo(repo, canary)
    temp_root = Path(tempfile.gettempdir())
    before = set(temp_root.iterdir())
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        assert main(["index"]) == 0
        assert main(["search", canary]) == 0
        assert main(["fill", "strings.py", *argv_extra]) in (0, 1)
    finally:
        os.chdir(cwd)
    assert (repo / ".codegen-hook" / "index" / "manifest").is_file()
    assert any((tmp_path / "data").rglob("*")), "the tool wrote nothing to its data dir?"
    user_files = {repo / "helpers.py", stub, repo / "pyproject.toml"}
    new_temp = [p for p in temp_root.iterdir() if p not in before and p != tmp_path]
    assert leaks(canary, [tmp_path, *new_temp], user_files) == []
    # the check sees a leak where there is one (negative control)
    (tmp_path / "data" / "oops.txt").write_text(canary)
    assert leaks(canary, [tmp_path], user_files) == [str(tmp_path / "data" / "oops.txt")]


@pytest.fixture
def canary() -> str:
    return "canary" + secrets.token_hex(8)


def test_no_plaintext_canary_after_index_search_and_fill(
        tmp_path: Path, canary: str, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ScriptedBackend([ANSWER])

    def make(*args: Any, **kwargs: Any) -> ScriptedBackend:
        return backend

    monkeypatch.setattr(codegen_hook.backends, "make_backend", make)
    run_and_check(tmp_path, canary, [])
    assert canary in backend.requests[0].messages[-1].content  # it did reach the model


@pytest.mark.real_model
def test_no_plaintext_canary_with_the_real_model(tmp_path: Path, canary: str,
                                                 real_model_path: Path) -> None:
    run_and_check(tmp_path, canary, ["--model", str(real_model_path)])
