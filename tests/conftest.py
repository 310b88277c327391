"""Keep every test off the developer's machine: HOME, data, config and cache dirs
live under tmp_path, and no CODEGEN_HOOK_* variable from outside leaks in."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

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
