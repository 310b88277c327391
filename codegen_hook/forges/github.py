"""GitHub (and GitHub Enterprise): one pull-request review of suggestions, one summary.

Endpoints (REST, API version 2022-11-28), all through one `JsonClient`:

- `GET  /repos/{o}/{r}/pulls/{n}/files` (paginated): each file's `patch`, whose hunks say
  which head lines the diff shows. GitHub refuses (422) a review comment outside them.
- `GET  /repos/{o}/{r}/pulls/{n}/comments` (paginated): review comments already there;
  a suggestion or note with the same path, line and body is not posted again.
- `POST /repos/{o}/{r}/pulls/{n}/reviews`: `{"commit_id": head, "event": "COMMENT",
  "body", "comments": [{"path", "line", "side": "RIGHT", "body"}, ...]}`, multi-line
  comments adding `start_line` and `start_side`. A suggestion's body is its comment and
  a suggestion block holding the replacement for exactly lines start..end.
- `GET  /repos/{o}/{r}/issues/{n}/comments` (paginated), then
  `PATCH /repos/{o}/{r}/issues/comments/{id}` of the bot's earlier summary (its body
  starts with BOT_MARKER), or `POST /repos/{o}/{r}/issues/{n}/comments` for the first.

A suggestion whose lines are outside the diff, or all of them if GitHub refuses the
review, goes into the summary as a code block, and `Published.skipped` says so.
The token needs "Pull requests: write" and "Issues: write" (in a workflow:
`permissions: {pull-requests: write, issues: write}`); a pull request from a fork gets
a read-only GITHUB_TOKEN.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from codegen_hook.errors import ConfigError
from codegen_hook.forges.base import BOT_MARKER, Forge, Published, Review, Suggestion
from codegen_hook.forges.diff import Hunk, parse_hunks
from codegen_hook.forges.http import ForgeRequestError, HttpOptions, JsonClient, expect
from codegen_hook.forges.markdown import suggestion_body, summary_body
from codegen_hook.forges.placement import Placement, place

__all__ = ["GitHubForge"]

MAX_BODY = 65536  # GitHub's limit on a comment body, in characters
PER_PAGE = {"per_page": 100}
OUTSIDE = ("Their lines are outside the diff GitHub shows for this pull request (or "
           "GitHub refused them), so they could not be suggested there.")

HINTS = {
    401: "GitHub refused the token; set GITHUB_TOKEN (or CODEGEN_HOOK_FORGE_TOKEN) to a "
         "valid, unexpired token",
    403: "the token may not write here; give the workflow `permissions: pull-requests: "
         "write` and `issues: write` (a pull request from a fork gets a read-only token)",
    404: "check GITHUB_REPOSITORY and the pull request number, and that the token can see "
         "the repository",
    422: "GitHub refused the request's content",
    500: "GitHub had a server error; re-run the job later",
}


class GitHubForge(Forge):
    """Posts to pull request `pull_number` of `repository` ("owner/name")."""

    name: ClassVar[str] = "github"

    def __init__(self, api_url: str, repository: str, pull_number: int, token: str, *,
                 options: HttpOptions = HttpOptions()) -> None:
        owner, _, repo = repository.partition("/")
        if not owner or not repo or "/" in repo:
            raise ConfigError(f"GitHub repository {repository!r} is not owner/name; fix "
                              "GITHUB_REPOSITORY")
        if pull_number < 1:
            raise ConfigError(f"pull request number {pull_number} is not a positive "
                              "number; pass --pr N")
        if not token:
            raise ConfigError("no GitHub token: set GITHUB_TOKEN (in the workflow: `env: "
                              "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`) or "
                              "CODEGEN_HOOK_FORGE_TOKEN")
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self.pull_number = pull_number
        self._repo = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"
        self._client = JsonClient(
            self.api_url, service="GitHub", auth_header=("Authorization", f"Bearer {token}"),
            token=token, hints=HINTS, url_setting="GITHUB_API_URL", options=options,
            headers={"Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": "2022-11-28"})

    def publish(self, review: Review) -> Published:
        placement = place(review, self._hunks(), self._posted_comments(), suggestion_body,
                          lambda suggestion: suggestion.end_line, "pull request")
        published = Published()
        if placement.suggestions or placement.notes:
            self._post_review(review, placement, published)
        self._post_summary(summary_body(review.summary, placement.unplaced,
                                        placement.unplaced_notes, MAX_BODY, OUTSIDE),
                           published)
        published.skipped = placement.skipped
        return published

    # -- reading the pull request ---------------------------------------------------

    def _hunks(self) -> dict[str, list[Hunk]]:
        path = f"{self._repo}/pulls/{self.pull_number}/files"
        hunks: dict[str, list[Hunk]] = {}
        for item in self._client.pages(path, PER_PAGE):
            entry = expect(item, dict, f"an item of GET {path}")
            patch = entry.get("patch")  # absent for binary and very large files
            if isinstance(patch, str):
                hunks[expect(entry.get("filename"), str, "a file's filename")] = \
                    parse_hunks(patch)
        return hunks

    def _posted_comments(self) -> set[tuple[str, int, str]]:
        path = f"{self._repo}/pulls/{self.pull_number}/comments"
        posted: set[tuple[str, int, str]] = set()
        for item in self._client.pages(path, PER_PAGE):
            entry = expect(item, dict, f"an item of GET {path}")
            line, file, body = entry.get("line"), entry.get("path"), entry.get("body")
            if isinstance(line, int) and isinstance(file, str) and isinstance(body, str):
                posted.add((file, line, body))
        return posted

    # -- writing --------------------------------------------------------------------

    def _post_review(self, review: Review, placement: Placement,
                     published: Published) -> None:
        """One review holding every inline comment; if GitHub refuses its content (422),
        they all go to the summary instead."""
        comments = [_suggestion_comment(suggestion, body)
                    for suggestion, _, body in placement.suggestions]
        comments += [{"path": note.path, "line": note.line, "side": "RIGHT",
                      "body": note.body} for note, _ in placement.notes]
        payload = {
            "commit_id": review.head_sha, "event": "COMMENT", "comments": comments,
            "body": f"codegen-hook: {len(placement.suggestions)} suggested function "
                    f"bodies, {len(placement.notes)} notes; the summary comment has the "
                    "details.",
        }
        try:
            answer = self._client.post(f"{self._repo}/pulls/{self.pull_number}/reviews",
                                       payload)
        except ForgeRequestError as exc:
            if exc.status != 422:
                raise
            placement.refused(f"GitHub refused the review ({exc.api_said or '422'})")
            return
        published.review_url = str(expect(answer, dict, "the created review")
                                   .get("html_url") or "")
        published.comments = len(comments)

    def _post_summary(self, body: str, published: Published) -> None:
        listing = f"{self._repo}/issues/{self.pull_number}/comments"
        earlier = None
        for item in self._client.pages(listing, PER_PAGE):
            entry = expect(item, dict, f"an item of GET {listing}")
            text = entry.get("body")
            if isinstance(text, str) and text.lstrip().startswith(BOT_MARKER):
                earlier = expect(entry.get("id"), int, "a comment's id")
                break
        if earlier is None:
            answer = self._client.post(listing, {"body": body})
        else:
            answer = self._client.patch(f"{self._repo}/issues/comments/{earlier}",
                                        {"body": body})
            published.summary_updated = True
        published.summary_url = str(expect(answer, dict, "the summary comment")
                                    .get("html_url") or "")


def _suggestion_comment(suggestion: Suggestion, body: str) -> dict[str, Any]:
    comment: dict[str, Any] = {"path": suggestion.path}
    if suggestion.start_line < suggestion.end_line:
        comment.update(start_line=suggestion.start_line, start_side="RIGHT")
    comment.update(line=suggestion.end_line, side="RIGHT", body=body)
    return comment
