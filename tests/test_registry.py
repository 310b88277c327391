"""One registry per extension point: shipped names load lazily, plugins join through
entry points, an unknown name fails with the names there are."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from codegen_hook.backends import make_backend
from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.checks import make_checks
from codegen_hook.checks.tools import Flake8Check
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError
from codegen_hook.isolation import select_sandbox
from codegen_hook.isolation.fake import ScriptedSandbox
from codegen_hook.registry import BACKENDS, CHECKS, FORGES, SANDBOXES, Registry


def fake_backend(settings: Settings, data_dir: Path, progress: object) -> ScriptedBackend:
    return ScriptedBackend(["from a plugin"])


def fake_sandbox(settings: Settings) -> ScriptedSandbox:
    return ScriptedSandbox(lambda job: None)  # type: ignore[arg-type,return-value]


def plugins(monkeypatch: pytest.MonkeyPatch, group: str, name: str, value: str) -> None:
    """An installed package's entry point, without installing one: what the registry
    of `group` found (undone after the test)."""
    registry = next(r for r in (BACKENDS, SANDBOXES, CHECKS, FORGES) if r.group == group)
    monkeypatch.setitem(registry.__dict__, "_plugins",
                        {name: metadata.EntryPoint(name, value, group)})


def test_shipped_names_are_the_settings_and_cli_choices() -> None:
    assert BACKENDS.names()[:3] == ("llama-cpp", "openai", "langchain")
    assert SANDBOXES.names()[:2] == ("docker", "bwrap")
    assert {"flake8", "mypy", "pyre", "style", "security"} <= set(CHECKS.names())
    assert FORGES.names()[:2] == ("github", "gitlab")
    assert CHECKS.load("flake8") is Flake8Check


def test_an_unknown_name_fails_with_the_names_there_are(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown backend 'nope'; available: llama-cpp"):
        BACKENDS.load("nope")
    with pytest.raises(ConfigError, match="unknown check"):
        make_checks(("flake8", "pylint"))
    with pytest.raises(ConfigError, match="setting backend = 'nope'"):
        Settings(backend="nope").validated()


def test_a_plugin_backend_is_chosen_by_name(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    plugins(monkeypatch, "codegen_hook.backends", "mine", f"{__name__}:fake_backend")
    assert "mine" in BACKENDS.names()
    settings = Settings(backend="mine").validated()
    backend = make_backend(settings, tmp_path)
    assert isinstance(backend, ScriptedBackend) and backend.queue == ["from a plugin"]


def test_a_plugin_sandbox_is_chosen_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    plugins(monkeypatch, "codegen_hook.sandboxes", "mine", f"{__name__}:fake_sandbox")
    assert isinstance(select_sandbox(Settings(sandbox="mine").validated()), ScriptedSandbox)


def test_a_broken_plugin_says_where_it_comes_from(monkeypatch: pytest.MonkeyPatch) -> None:
    plugins(monkeypatch, "codegen_hook.checks", "broken", "no_such_module_here:Check")
    with pytest.raises(ConfigError, match="comes from 'no_such_module_here:Check'"):
        make_checks(("broken",))


def test_entry_points_of_the_group_join_after_the_shipped_names(
        monkeypatch: pytest.MonkeyPatch) -> None:
    group = "codegen_hook.test-things"
    found = metadata.EntryPoints([metadata.EntryPoint("z", f"{__name__}:fake_sandbox", group),
                                  metadata.EntryPoint("b", "elsewhere:ignored", group)])
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points",
                        lambda **kw: found if kw.get("group") == group else real(**kw))
    registry = Registry("thing", group, {"b": f"{__name__}:fake_backend", "a": "x:z"})
    assert registry.names() == ("b", "a", "z")
    assert registry.load("b") is fake_backend       # a plugin cannot replace a shipped name
    assert registry.load("z") is fake_sandbox
