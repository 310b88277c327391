"""GitLab (gitlab.com or self-managed, API v4): one diff thread per suggestion, one summary.

Endpoints, all through one `JsonClient` with the `PRIVATE-TOKEN` header:

- `GET  /projects/:id/merge_requests/:iid`: `web_url` and `diff_refs` (base, start and
  head SHA). If `diff_refs` is not for the review's head commit, `GET .../versions`
  finds the version that is, and its diff comes from `GET .../versions/:version_id`.
- `GET  /projects/:id/merge_requests/:iid/diffs` (paginated): each file's `diff`, whose
  hunks say which head lines the merge request shows. GitLab refuses (400, "line_code")
  a position outside them.
- `GET  /projects/:id/merge_requests/:iid/discussions` (paginated): threads already
  there; a suggestion or note at the same place with the same body is not posted again.
- `POST /projects/:id/merge_requests/:iid/discussions`: `{"body", "position":
  {"position_type": "text", "base_sha", "start_sha", "head_sha", "old_path",
  "new_path", "new_line"}}` (plus `old_line` for an unchanged line) on the stub's first
  line; the body ends in a ```` ```suggestion:-0+N ```` block (N = end - start), which
  replaces that line and the N below it.
- `GET  /projects/:id/merge_requests/:iid/notes` (paginated), then
  `PUT .../notes/:note_id` of the bot's earlier summary (its body starts with
  BOT_MARKER), or `POST .../notes` for the first.

The token must be a project, group or personal access token with the `api` scope, from
a user with at least the Reporter role: CI_JOB_TOKEN cannot create notes.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote, unquote

from codegen_hook.errors import ConfigError
from codegen_hook.forges.base import BOT_MARKER, Forge, Published, Review, Suggestion
from codegen_hook.forges.diff import Hunk, parse_hunks
from codegen_hook.forges.http import ForgeRequestError, HttpOptions, JsonClient, expect
from codegen_hook.forges.markdown import suggestion_body, summary_body
from codegen_hook.forges.placement import Placement, place

__all__ = ["GitLabForge"]

MAX_BODY = 1_000_000  # GitLab's note length limit
PER_PAGE = {"per_page": 100}
OUTSIDE = ("Their lines are outside the diff GitLab shows for this merge request (or "
           "GitLab refused them), so they could not be suggested there.")

HINTS = {
    400: "GitLab refused the request's content",
    401: "GitLab refused the token; set CODEGEN_HOOK_FORGE_TOKEN (or GITLAB_TOKEN) to a "
         "project or personal access token with the api scope (CI_JOB_TOKEN cannot write "
         "notes)",
    403: "the token may not write here: it needs the api scope and at least the Reporter "
         "role on the project",
    404: "check CI_PROJECT_ID and CI_MERGE_REQUEST_IID, and that the token's user can see "
         "the project",
    500: "GitLab had a server error; re-run the job later",
}

# (base_sha, start_sha, head_sha, version id or None for the latest diff)
Refs = tuple[str, str, str, int | None]
# new path -> (old path, hunks)
Diffs = dict[str, tuple[str, list[Hunk]]]


class GitLabForge(Forge):
    """Posts to merge request `mr_iid` of project `project_id` (a number, or the path
    "group/project", URL-encoded or not)."""

    name: ClassVar[str] = "gitlab"

    def __init__(self, api_url: str, project_id: int | str, mr_iid: int, token: str, *,
                 options: HttpOptions = HttpOptions()) -> None:
        if not str(project_id).strip():
            raise ConfigError("no GitLab project: set CI_PROJECT_ID")
        if mr_iid < 1:
            raise ConfigError(f"merge request IID {mr_iid} is not a positive number; pass "
                              "--pr N")
        if not token:
            raise ConfigError("no GitLab token: set CODEGEN_HOOK_FORGE_TOKEN (or "
                              "GITLAB_TOKEN) to a project or personal access token with "
                              "the api scope; CI_JOB_TOKEN cannot create notes")
        self.api_url = api_url.rstrip("/")
        self.project_id = str(project_id)
        self.mr_iid = mr_iid
        project = quote(unquote(self.project_id), safe="")
        self._mr = f"/projects/{project}/merge_requests/{mr_iid}"
        self._client = JsonClient(
            self.api_url, service="GitLab", auth_header=("PRIVATE-TOKEN", token),
            token=token, hints=HINTS, url_setting="CI_API_V4_URL", options=options)

    def publish(self, review: Review) -> Published:
        merge_request = expect(self._client.get(self._mr), dict, "the merge request")
        web_url = str(merge_request.get("web_url") or "")
        refs = self._refs(merge_request, review.head_sha)
        diffs = self._diffs(refs[3])
        placement = place(review, {path: hunks for path, (_, hunks) in diffs.items()},
                          self._posted_threads(), _gitlab_suggestion,
                          lambda suggestion: suggestion.start_line, "merge request")
        published = Published()
        self._post_threads(placement, refs, diffs, web_url, published)
        self._post_summary(summary_body(review.summary, placement.unplaced,
                                        placement.unplaced_notes, MAX_BODY, OUTSIDE),
                           web_url, published)
        published.skipped = placement.skipped
        return published

    # -- reading the merge request --------------------------------------------------

    def _refs(self, merge_request: dict[str, Any], head_sha: str) -> Refs:
        """The SHAs of the merge request version whose head is `head_sha`."""
        refs = merge_request.get("diff_refs")
        if isinstance(refs, dict) and refs.get("head_sha") == head_sha:
            return (_sha(refs, "base_sha"), _sha(refs, "start_sha"), head_sha, None)
        versions = self._client.pages(f"{self._mr}/versions", PER_PAGE)  # newest first
        for position, item in enumerate(versions):
            version = expect(item, dict, "a merge request version")
            if version.get("head_commit_sha") == head_sha:
                return (_sha(version, "base_commit_sha"), _sha(version, "start_commit_sha"),
                        head_sha, None if position == 0 else
                        expect(version.get("id"), int, "a version's id"))
        raise ForgeRequestError(
            f"head commit {head_sha[:12]} is not a version of merge request !{self.mr_iid}, "
            "so its lines cannot be placed. Review the merge request's own head commit "
            "(CI_MERGE_REQUEST_SOURCE_BRANCH_SHA in a merged-results pipeline, whose "
            "CI_COMMIT_SHA is a merge commit), or re-run once GitLab has the push")

    def _diffs(self, version_id: int | None) -> Diffs:
        if version_id is None:
            items: list[Any] = list(self._client.pages(f"{self._mr}/diffs", PER_PAGE))
        else:
            version = expect(self._client.get(f"{self._mr}/versions/{version_id}"), dict,
                             "the merge request version")
            items = expect(version.get("diffs"), list, "a version's diffs")
        diffs: Diffs = {}
        for item in items:
            entry = expect(item, dict, "a merge request diff")
            text, new_path = entry.get("diff"), entry.get("new_path")
            if entry.get("deleted_file") or not isinstance(text, str) \
                    or not isinstance(new_path, str):
                continue  # a deleted file, or one too large for GitLab to diff
            diffs[new_path] = (str(entry.get("old_path") or new_path), parse_hunks(text))
        return diffs

    def _posted_threads(self) -> set[tuple[str, int, str]]:
        posted: set[tuple[str, int, str]] = set()
        for item in self._client.pages(f"{self._mr}/discussions", PER_PAGE):
            notes = expect(item, dict, "a discussion").get("notes")
            for note in notes if isinstance(notes, list) else ():
                position = note.get("position") if isinstance(note, dict) else None
                if not isinstance(position, dict):
                    continue
                path, line = position.get("new_path"), position.get("new_line")
                body = note.get("body")
                if isinstance(path, str) and isinstance(line, int) and isinstance(body, str):
                    posted.add((path, line, body))
        return posted

    # -- writing --------------------------------------------------------------------

    def _post_threads(self, placement: Placement, refs: Refs, diffs: Diffs, web_url: str,
                      published: Published) -> None:
        """One thread per inline item; one GitLab refuses (400) goes to the summary."""
        refused = Placement()
        for suggestion, hunk, body in placement.suggestions:
            said = self._post_thread(suggestion.path, suggestion.start_line, body, hunk,
                                     refs, diffs, web_url, published)
            if said is not None:
                refused.suggestions.append((suggestion, hunk, body))
                refused.refused(f"GitLab refused the position ({said})")
        for note, hunk in placement.notes:
            said = self._post_thread(note.path, note.line, note.body, hunk, refs, diffs,
                                     web_url, published)
            if said is not None:
                refused.notes.append((note, hunk))
                refused.refused(f"GitLab refused the position ({said})")
        placement.unplaced += refused.unplaced
        placement.unplaced_notes += refused.unplaced_notes
        placement.skipped += refused.skipped

    def _post_thread(self, path: str, line: int, body: str, hunk: Hunk, refs: Refs,
                     diffs: Diffs, web_url: str, published: Published) -> str | None:
        """Start a diff thread on `line`; None if posted, else what GitLab said (400)."""
        position: dict[str, Any] = {
            "position_type": "text", "base_sha": refs[0], "start_sha": refs[1],
            "head_sha": refs[2], "old_path": diffs[path][0], "new_path": path,
            "new_line": line}
        if line in hunk.old_of:  # an unchanged line: GitLab wants both numbers
            position["old_line"] = hunk.old_of[line]
        try:
            answer = self._client.post(f"{self._mr}/discussions",
                                       {"body": body, "position": position})
        except ForgeRequestError as exc:
            if exc.status != 400:
                raise
            return exc.api_said or "400"
        published.comments += 1
        published.review_url = published.review_url or _note_url(web_url, answer)
        return None

    def _post_summary(self, body: str, web_url: str, published: Published) -> None:
        listing = f"{self._mr}/notes"
        earlier = None
        for item in self._client.pages(listing, {**PER_PAGE, "sort": "asc",
                                                 "order_by": "created_at"}):
            note = expect(item, dict, "a merge request note")
            text = note.get("body")
            if not note.get("system") and isinstance(text, str) \
                    and text.lstrip().startswith(BOT_MARKER):
                earlier = expect(note.get("id"), int, "a note's id")
                break
        if earlier is None:
            answer = self._client.post(listing, {"body": body})
        else:
            answer = self._client.put(f"{listing}/{earlier}", {"body": body})
            published.summary_updated = True
        note_id = expect(answer, dict, "the summary note").get("id")
        published.summary_url = f"{web_url}#note_{note_id}" if web_url and note_id else ""


def _gitlab_suggestion(suggestion: Suggestion) -> str:
    lines_below = max(0, suggestion.end_line - suggestion.start_line)
    return suggestion_body(suggestion, f"suggestion:-0+{lines_below}")


def _sha(refs: dict[str, Any], key: str) -> str:
    return expect(refs.get(key), str, f"the merge request's {key}")


def _note_url(web_url: str, discussion: Any) -> str:
    notes = discussion.get("notes") if isinstance(discussion, dict) else None
    first = notes[0] if isinstance(notes, list) and notes else None
    note_id = first.get("id") if isinstance(first, dict) else None
    return f"{web_url}#note_{note_id}" if web_url and note_id else ""
