"""The Check extension point: one abstract method, `run`.

Checks read generated code; none of them runs it. Findings outside the
generated lines (the user's own code) are dropped by the caller's line range.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from codegen_hook.index.style import StyleProfile

__all__ = ["Check", "CheckContext", "CheckOptions", "Finding"]


@dataclass(frozen=True)
class Finding:
    check: str
    line: int
    col: int
    code: str
    message: str
    blocking: bool = True   # False: reported, but it does not stop verification

    def render(self) -> str:
        note = "" if self.blocking else " (reported only)"
        return f"{self.check} {self.code} line {self.line}: {self.message}{note}"


@dataclass(frozen=True)
class CheckContext:
    """Where the generated code sits: the module it was spliced into, and its lines."""

    path: Path              # the user's file (only its name and folder are used)
    root: Path              # where the repo's tool configs are found
    first_line: int         # 1-based, first generated line in the spliced module
    last_line: int
    cache_dir: Path
    example_sources: tuple[str, ...] = ()
    style: "StyleProfile | None" = None   # the repository's style, mined from its index

    def owns(self, line: int) -> bool:
        return self.first_line <= line <= self.last_line


@dataclass(frozen=True)
class CheckOptions:
    """What of the settings a check may need when it is built."""

    style_mode: str = "report"    # report | enforce: do style findings block?
    pyre_command: str = ""        # the `pyre` to run; "": beside this Python, else on PATH


class Check(abc.ABC):
    """A static check of generated code: it reads the code, it never runs it."""

    name: ClassVar[str] = "check"

    @classmethod
    def configured(cls, options: "CheckOptions") -> "Check":
        """The check as the settings want it (registry.CHECKS builds checks so)."""
        return cls()

    @abc.abstractmethod
    def run(self, code: str, context: CheckContext) -> list[Finding]:
        """Findings for the generated lines of `code` (the spliced module)."""
