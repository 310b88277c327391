"""Choosing a sandbox: `auto` falls back, and refuses when nothing works."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen_hook.config import Settings
from codegen_hook.errors import SandboxUnavailableError
from codegen_hook.isolation import select_sandbox


def test_auto_refuses_when_neither_docker_nor_bwrap_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(SandboxUnavailableError) as caught:
        select_sandbox(Settings(sandbox="auto"))
    message = str(caught.value)
    assert "Docker engine does not answer" in message
    assert "apt-get install bubblewrap" in message and "--unsafe-no-sandbox" in message


def test_auto_without_docker_takes_bwrap(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert select_sandbox(Settings(sandbox="auto")).name == "bwrap"


def test_auto_says_why_it_passed_over_docker() -> None:
    notices: list[str] = []
    chosen = select_sandbox(Settings(sandbox="auto", docker_image="codegen-hook-sandbox:nope"),
                            notices)
    assert chosen.name == "bwrap"
    assert len(notices) == 1 and notices[0].startswith("not using docker")
    assert "codegen-hook sandbox build" in notices[0] or "does not answer" in notices[0]
