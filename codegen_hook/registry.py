"""One registry per extension point: a name maps to the factory that builds it.

The shipped entries are written here as "module:attribute" strings, so a name is known
(for config checks and CLI choices) without importing a heavy backend; the factory is
imported only when that name is used. A third party adds one through an entry point
in the registry's group, as pytest and llm plugins do:

    [project.entry-points."codegen_hook.backends"]
    my-server = "my_package.backend:make_backend"

Factories by registry (what they are called with):
- backends:  (settings, data_dir, progress) -> Backend
- sandboxes: (settings) -> Sandbox (raises SandboxUnavailableError if it cannot start)
- checks:    a Check class; built by `cls.configured(style_mode)`
- forges:    (env, pull_number, options) -> Forge
"""

from __future__ import annotations

import functools
import importlib
from importlib import metadata
from typing import Any

from codegen_hook.errors import ConfigError

__all__ = ["BACKENDS", "CHECKS", "FORGES", "Registry", "SANDBOXES"]


class Registry:
    """The names of one extension point and how to load each one."""

    def __init__(self, kind: str, group: str, shipped: dict[str, str]) -> None:
        self.kind, self.group, self.shipped = kind, group, dict(shipped)

    @functools.cached_property
    def _plugins(self) -> dict[str, metadata.EntryPoint]:
        return {ep.name: ep for ep in metadata.entry_points(group=self.group)
                if ep.name not in self.shipped}

    def names(self) -> tuple[str, ...]:
        """The shipped names in their order, then those plugins add, sorted."""
        return (*self.shipped, *sorted(self._plugins))

    def load(self, name: str) -> Any:
        """The factory registered as `name`; an unknown name fails loudly."""
        if name in self.shipped:
            module, _, attribute = self.shipped[name].partition(":")
            return getattr(importlib.import_module(module), attribute)
        plugin = self._plugins.get(name)
        if plugin is None:
            raise ConfigError(f"unknown {self.kind} {name!r}; available: "
                              f"{', '.join(self.names())} (a plugin adds one through the "
                              f"{self.group!r} entry point group)")
        try:
            return plugin.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"the {self.kind} {name!r} comes from {plugin.value!r}, which "
                              f"could not be loaded ({exc}); reinstall the package that "
                              "provides it, or pick another") from exc


BACKENDS = Registry("backend", "codegen_hook.backends", {
    "llama-cpp": "codegen_hook.backends:llama_cpp_backend",
    "openai": "codegen_hook.backends:openai_backend",
    "langchain": "codegen_hook.backends:langchain_backend",
})
SANDBOXES = Registry("sandbox", "codegen_hook.sandboxes", {
    "docker": "codegen_hook.isolation:docker_sandbox",
    "bwrap": "codegen_hook.isolation:bwrap_sandbox",
})
CHECKS = Registry("check", "codegen_hook.checks", {
    "flake8": "codegen_hook.checks.tools:Flake8Check",
    "mypy": "codegen_hook.checks.tools:MypyCheck",
    "pyre": "codegen_hook.checks.pyre:PyreCheck",
    "style": "codegen_hook.checks.style:StyleCheck",
    "security": "codegen_hook.checks.security:SecretCheck",
})
FORGES = Registry("forge", "codegen_hook.forges", {
    "github": "codegen_hook.forges:github_from_env",
    "gitlab": "codegen_hook.forges:gitlab_from_env",
})
