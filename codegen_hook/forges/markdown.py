"""The markdown a forge adds around what it is given: suggestion blocks, the summary's
marker, and the section for what could not be placed on the diff.

The summary itself comes composed from the CLI; nothing here rewrites it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from codegen_hook.forges.base import BOT_MARKER, Note, Suggestion

__all__ = ["fence", "suggestion_body", "summary_body", "where"]

CLIPPED = "\n\n*… cut to fit the forge's comment size limit; the CI log has all of it.*"


def fence(text: str, minimum: int = 3) -> str:
    """A backtick fence longer than any backtick run in `text` (CommonMark nesting;
    both forges read a longer fence around a suggestion that holds ``` itself)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(minimum, longest + 1)


def suggestion_body(suggestion: Suggestion, info: str = "suggestion") -> str:
    """The comment, then a suggestion block whose content replaces the commented lines."""
    marks = fence(suggestion.replacement)
    return (f"{suggestion.comment}\n\n{marks}{info}\n{suggestion.replacement}\n{marks}")


def where(path: str, start: int, end: int) -> str:
    return f"{path}:{start}" if start == end else f"{path}:{start}-{end}"


def summary_body(summary: str, unplaced: Sequence[Suggestion], notes: Sequence[Note],
                 limit: int, why: str) -> str:
    """BOT_MARKER, the summary, and (if any) the suggestions and notes that could not go
    on the diff, as code blocks; cut to `limit` characters."""
    parts = [BOT_MARKER, summary.replace(BOT_MARKER, "").strip("\n")]
    if unplaced or notes:
        parts += ["", "#### Not placed on the diff", "", why]
    for suggestion in unplaced:
        lines = (f"line {suggestion.start_line}" if suggestion.start_line == suggestion.end_line
                 else f"lines {suggestion.start_line}–{suggestion.end_line}")
        marks = fence(suggestion.replacement)
        parts += ["", f"**`{suggestion.path}` {lines}** (replace these lines with):", "",
                  suggestion.comment, "", f"{marks}python", suggestion.replacement, marks]
    for note in notes:
        parts += ["", f"**`{note.path}` line {note.line}**:", "", note.body]
    text = "\n".join(parts)
    if len(text) > limit:
        text = text[:limit - len(CLIPPED)] + CLIPPED
    return text
