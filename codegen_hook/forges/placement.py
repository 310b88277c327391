"""Sorting a review's suggestions and notes: inline, already posted, or to the summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from codegen_hook.forges.base import Note, Review, Suggestion
from codegen_hook.forges.diff import Hunk, hunk_for
from codegen_hook.forges.markdown import where

__all__ = ["Placement", "place"]

# (path, the line the forge anchors a comment on, body): what an earlier run posted
Posted = set[tuple[str, int, str]]


@dataclass
class Placement:
    suggestions: list[tuple[Suggestion, Hunk, str]] = field(default_factory=list)  # + body
    notes: list[tuple[Note, Hunk]] = field(default_factory=list)
    unplaced: list[Suggestion] = field(default_factory=list)      # for the summary
    unplaced_notes: list[Note] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def refused(self, why: str) -> None:
        """The forge refused the inline comments: all of them go to the summary."""
        for suggestion, _, _ in self.suggestions:
            self.unplaced.append(suggestion)
            self.skipped.append(f"{_where(suggestion)}: {why}; shown in the summary instead")
        for note, _ in self.notes:
            self.unplaced_notes.append(note)
            self.skipped.append(f"{where(note.path, note.line, note.line)}: note {why}; "
                                "shown in the summary instead")
        self.suggestions, self.notes = [], []


def place(review: Review, hunks: Mapping[str, list[Hunk]], posted: Posted,
          body: Callable[[Suggestion], str], anchor: Callable[[Suggestion], int],
          diff_name: str) -> Placement:
    """Sort `review` against the diff's hunks and what an earlier run posted.

    A suggestion goes inline only if all its lines lie in one hunk's new side, so the
    suggestion block replaces exactly the stub; `anchor` is the line the forge files
    the comment under (GitHub: the last line, GitLab: the first)."""
    placement = Placement()
    for suggestion in review.suggestions:
        text = body(suggestion)
        hunk = hunk_for(list(hunks.get(suggestion.path, ())), suggestion.start_line,
                        suggestion.end_line)
        if (suggestion.path, anchor(suggestion), text) in posted:
            placement.skipped.append(f"{_where(suggestion)}: already suggested by an "
                                     "earlier run")
        elif hunk is None:
            placement.unplaced.append(suggestion)
            placement.skipped.append(f"{_where(suggestion)}: outside the {diff_name}'s "
                                     "diff; shown in the summary instead")
        else:
            placement.suggestions.append((suggestion, hunk, text))
    for note in review.notes:
        hunk = hunk_for(list(hunks.get(note.path, ())), note.line, note.line)
        spot = where(note.path, note.line, note.line)
        if (note.path, note.line, note.body) in posted:
            placement.skipped.append(f"{spot}: note already posted by an earlier run")
        elif hunk is None:
            placement.unplaced_notes.append(note)
            placement.skipped.append(f"{spot}: note outside the {diff_name}'s diff; shown "
                                     "in the summary instead")
        else:
            placement.notes.append((note, hunk))
    return placement


def _where(suggestion: Suggestion) -> str:
    return where(suggestion.path, suggestion.start_line, suggestion.end_line)
