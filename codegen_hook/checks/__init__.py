"""Static checks of generated code, chosen by name."""

from __future__ import annotations

from codegen_hook.checks.base import Check, CheckContext, Finding
from codegen_hook.checks.examples import ExampleSpecialCaseCheck
from codegen_hook.checks.tools import Flake8Check, MypyCheck
from codegen_hook.errors import ConfigError

__all__ = ["Check", "CheckContext", "Finding", "make_checks"]

_BY_NAME: dict[str, type[Check]] = {"flake8": Flake8Check, "mypy": MypyCheck}


def make_checks(names: tuple[str, ...]) -> list[Check]:
    """The configured checks, plus the example special-case check, which is always on."""
    unknown = [name for name in names if name not in _BY_NAME]
    if unknown:
        raise ConfigError(f"unknown check(s) {', '.join(unknown)}; available: "
                          f"{', '.join(_BY_NAME)}")
    return [ExampleSpecialCaseCheck()] + [_BY_NAME[name]() for name in names]
