"""The Forge extension point: one abstract method, `publish`.

A forge receives a Review (data only: the summary markdown, one suggestion per filled
function on the stub's lines in the head commit, one note per stub that was not
verified) and puts it on the pull / merge request. Re-publishing updates the bot's own
earlier summary instead of adding another one.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import ClassVar

__all__ = ["BOT_MARKER", "Forge", "Note", "Published", "Review", "Suggestion"]

# Hidden in every summary the bot writes, so a re-run finds and updates its own.
BOT_MARKER = "<!-- codegen-hook:summary -->"


@dataclass(frozen=True)
class Suggestion:
    """Replace lines start_line..end_line (1-based, inclusive, in the head commit's
    version of `path`) with `replacement` (no trailing newline)."""

    path: str           # repository-relative, forward slashes
    start_line: int
    end_line: int
    replacement: str
    comment: str        # markdown shown above the suggestion


@dataclass(frozen=True)
class Note:
    """A comment on one line of the head commit: why a stub was not filled."""

    path: str
    line: int
    body: str


@dataclass(frozen=True)
class Review:
    summary: str                        # markdown; the forge adds BOT_MARKER
    base_sha: str
    head_sha: str
    suggestions: tuple[Suggestion, ...] = ()
    notes: tuple[Note, ...] = ()


@dataclass
class Published:
    """What the forge did, for the CI log and --json."""

    summary_url: str = ""
    summary_updated: bool = False       # an earlier summary of the bot's was edited
    review_url: str = ""
    comments: int = 0                   # suggestions and notes posted
    skipped: list[str] = field(default_factory=list)   # what could not be placed, and why


class Forge(abc.ABC):
    """A code-review host: GitHub, GitLab, or the fake."""

    name: ClassVar[str] = "forge"
    # The API root it talks to, so the CLI can let exactly that host through the
    # egress guard; "" for a forge that needs no network (the fake).
    api_url: str = ""

    @abc.abstractmethod
    def publish(self, review: Review) -> Published:
        """Post `review` on the pull / merge request; raise ForgeError when it cannot."""
