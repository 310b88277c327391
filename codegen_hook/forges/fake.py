"""RecordingForge: the shipped fake. It keeps what it is asked to publish."""

from __future__ import annotations

from typing import ClassVar

from codegen_hook.errors import ForgeError
from codegen_hook.forges.base import Forge, Published, Review

__all__ = ["RecordingForge"]


class RecordingForge(Forge):
    """Records every review; a second publish "updates" the summary, as a real forge's
    re-run does. With `fail`, publish raises it instead (to test the CLI's error path)."""

    name: ClassVar[str] = "fake"

    def __init__(self, fail: ForgeError | None = None) -> None:
        self.reviews: list[Review] = []
        self.fail = fail

    def publish(self, review: Review) -> Published:
        if self.fail is not None:
            raise self.fail
        self.reviews.append(review)
        return Published(summary_url=f"recorded://summary/{len(self.reviews)}",
                         summary_updated=len(self.reviews) > 1,
                         review_url=f"recorded://review/{len(self.reviews)}",
                         comments=len(review.suggestions) + len(review.notes))
