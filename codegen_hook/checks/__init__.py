"""Static checks of generated code, chosen by name."""

from __future__ import annotations

from codegen_hook.checks.base import Check, CheckContext, Finding
from codegen_hook.checks.examples import ExampleSpecialCaseCheck
from codegen_hook.checks.security import SecretCheck
from codegen_hook.checks.style import StyleCheck
from codegen_hook.checks.tools import Flake8Check, MypyCheck
from codegen_hook.errors import ConfigError

__all__ = ["Check", "CheckContext", "Finding", "make_checks"]

_BY_NAME: dict[str, type[Check]] = {"flake8": Flake8Check, "mypy": MypyCheck,
                                    "style": StyleCheck, "security": SecretCheck}
_STYLE_MODES = ("report", "enforce")


def make_checks(names: tuple[str, ...], style_mode: str = "report") -> list[Check]:
    """The configured checks, plus the example special-case check, which is always on.

    The style check's findings block only when `style_mode` is "enforce".
    """
    unknown = [name for name in names if name not in _BY_NAME]
    if unknown:
        raise ConfigError(f"unknown check(s) {', '.join(unknown)}; available: "
                          f"{', '.join(_BY_NAME)}")
    if style_mode not in _STYLE_MODES:
        raise ConfigError(f"setting style = {style_mode!r}: use one of "
                          f"{', '.join(_STYLE_MODES)}")
    checks: list[Check] = [ExampleSpecialCaseCheck()]
    for name in names:
        checks.append(StyleCheck(enforce=style_mode == "enforce") if name == "style"
                      else _BY_NAME[name]())
    return checks
