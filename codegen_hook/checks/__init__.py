"""Static checks of generated code, chosen by name (registry.CHECKS)."""

from __future__ import annotations

from codegen_hook.checks.base import Check, CheckContext, CheckOptions, Finding
from codegen_hook.checks.examples import ExampleSpecialCaseCheck
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError
from codegen_hook.registry import CHECKS

__all__ = ["Check", "CheckContext", "CheckOptions", "Finding", "checks_from_settings",
           "make_checks"]

_STYLE_MODES = ("report", "enforce")


def make_checks(names: tuple[str, ...], style_mode: str = "report",
                pyre_command: str = "") -> list[Check]:
    """The configured checks, plus the example special-case check, which is always on.

    The style check's findings block only when `style_mode` is "enforce"; `pyre_command`
    is the Pyre to run for the "pyre" check (setting pyre_command).
    """
    unknown = [name for name in names if name not in CHECKS.names()]
    if unknown:
        raise ConfigError(f"unknown check(s) {', '.join(unknown)}; available: "
                          f"{', '.join(CHECKS.names())}")
    if style_mode not in _STYLE_MODES:
        raise ConfigError(f"setting style = {style_mode!r}: use one of "
                          f"{', '.join(_STYLE_MODES)}")
    checks: list[Check] = [ExampleSpecialCaseCheck()]
    for name in names:
        kind: type[Check] = CHECKS.load(name)
        checks.append(kind.configured(CheckOptions(style_mode, pyre_command)))
    return checks


def checks_from_settings(settings: Settings) -> list[Check]:
    """make_checks for the settings' `checks`, `style` and `pyre_command`."""
    return make_checks(settings.checks, settings.style, settings.pyre_command)
