"""The project's environment, shown to the sandbox so candidates and the repository's
tests import what the project imports.

Found in this order: the `project_venv` setting (`--venv`), the `project_python` setting
(`--python`, its venv), $VIRTUAL_ENV (not pre-commit's own: a hook runs inside
pre-commit's venv, with PRE_COMMIT=1), `.venv/` or `venv/` in the repository, the
interpreter running codegen-hook. Its site-packages
are bound read-only into the sandbox; nothing of it is writable there and the network
stays cut. Host side only: the venv's folders are read, its Python is never run.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError

__all__ = ["ProjectEnv", "find_project_env"]


@dataclass(frozen=True)
class ProjectEnv:
    where: str                    # how it was found, for messages and the report
    prefix: Path
    version: tuple[int, int]      # the Python it was made for
    site: tuple[Path, ...]        # its package folders

    def check_version(self, sandbox_version: tuple[int, int], sandbox: str) -> None:
        """Packages built for one Python minor version do not load in another."""
        if sandbox_version != self.version:
            have = ".".join(map(str, self.version))
            want = ".".join(map(str, sandbox_version))
            raise ConfigError(
                f"the project's environment {self.prefix} ({self.where}) is for Python "
                f"{have}, but the {sandbox} sandbox runs Python {want}; point "
                f"`project_venv` (--venv, or --python) at an environment made with Python "
                f"{want}, or set sandbox_python to an interpreter of the environment's "
                "version")


def _venv(prefix: Path, where: str) -> ProjectEnv:
    config = prefix / "pyvenv.cfg"
    if not config.is_file():
        raise ConfigError(f"{prefix} ({where}) is not a virtual environment (no pyvenv.cfg); "
                          "point `project_venv` (--venv) at the folder that holds "
                          "bin/python and pyvenv.cfg")
    text = config.read_text("utf-8", errors="replace")
    match = re.search(r"^\s*(?:version_info|version)\s*=\s*(\d+)\.(\d+)", text, re.M)
    sites = sorted(p for lib in ("lib", "lib64") for p in (prefix / lib).glob(
        "python3*/site-packages") if p.is_dir())
    if match is None and sites:
        found = re.search(r"python(\d+)\.(\d+)", sites[0].parent.name)
        match = found
    if match is None or not sites:
        raise ConfigError(f"{prefix} ({where}) has no site-packages folder for a Python 3 "
                          "this can read; recreate it, or point `project_venv` (--venv) at another")
    return ProjectEnv(where, prefix, (int(match[1]), int(match[2])), tuple(dict.fromkeys(sites)))


def _running() -> ProjectEnv:
    paths = sysconfig.get_paths()
    site = tuple(dict.fromkeys(Path(paths[k]) for k in ("purelib", "platlib")))
    return ProjectEnv("the interpreter running codegen-hook", Path(sys.prefix),
                      sys.version_info[:2], site)


def find_project_env(settings: Settings, root: Path,
                     env: Mapping[str, str] | None = None) -> ProjectEnv:
    env = os.environ if env is None else env
    if settings.project_venv:
        return _venv(_within(root, settings.project_venv), "setting project_venv")
    if settings.project_python:
        python = _within(root, settings.project_python)
        return _venv(python.parent.parent, "setting project_python")
    active = env.get("VIRTUAL_ENV", "")
    if active and env.get("PRE_COMMIT") != "1":
        return _venv(Path(active), "$VIRTUAL_ENV")
    for name in (".venv", "venv"):
        if (root / name / "pyvenv.cfg").is_file():
            return _venv(root / name, f"{name}/ in the repository")
    return _running()


def _within(root: Path, given: str) -> Path:
    """A configured path, relative to the repository root."""
    path = Path(given).expanduser()
    return path if path.is_absolute() else root / path
