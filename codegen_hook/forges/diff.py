"""Which head-commit lines a pull / merge request's diff shows, from unified-diff hunks.

Both forges refuse a review comment on a line outside the diff (GitHub 422, GitLab 400
"line_code"), and a suggestion must replace exactly the stub's lines; so a suggestion
is placed inline only when all its lines lie on the new side of one hunk (added or
unchanged lines). GitLab also wants the old line number of an unchanged line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Hunk", "hunk_for", "parse_hunks"]

_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Hunk:
    """The new-side lines `new_start .. new_start + new_count - 1` of one hunk."""

    new_start: int
    new_count: int
    old_of: dict[int, int] = field(default_factory=dict)  # unchanged line: new -> old

    @property
    def new_end(self) -> int:
        return self.new_start + self.new_count - 1

    def covers(self, start: int, end: int) -> bool:
        return self.new_count > 0 and self.new_start <= start <= end <= self.new_end


def parse_hunks(patch: str) -> list[Hunk]:
    """The hunks of one file's unified diff (file headers and other text are skipped).

    Lines are split at newlines only: source lines may hold form feeds or U+2028, which
    str.splitlines would take for line breaks."""
    hunks: list[Hunk] = []
    old = new = old_left = new_left = 0
    old_of: dict[int, int] = {}
    for line in patch.split("\n"):
        header = _HEADER.match(line)
        if header:
            old, new = int(header[1]), int(header[3])
            old_left = int(header[2]) if header[2] is not None else 1
            new_left = int(header[4]) if header[4] is not None else 1
            old_of = {}
            hunks.append(Hunk(new, new_left, old_of))
        elif (old_left <= 0 and new_left <= 0) or line.startswith("\\"):
            continue  # outside a hunk, or "\ No newline at end of file"
        elif line.startswith("+"):
            new, new_left = new + 1, new_left - 1
        elif line.startswith("-"):
            old, old_left = old + 1, old_left - 1
        else:  # context; some tools strip the lone space of an empty context line
            old_of[new] = old
            old, new, old_left, new_left = old + 1, new + 1, old_left - 1, new_left - 1
    return hunks


def hunk_for(hunks: list[Hunk], start: int, end: int) -> Hunk | None:
    """The hunk whose new side holds every line start..end, if one does."""
    return next((hunk for hunk in hunks if hunk.covers(start, end)), None)
