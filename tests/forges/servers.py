"""Loopback HTTP servers for the forge tests: a route table, and stateful fakes of the
GitHub and GitLab endpoints the forges call, answering with the docs' payload shapes
(tests/forges/fixtures/*.json, recorded from the public API docs)."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())["response"]


@dataclass
class Seen:
    """One request as the server got it: `path` raw (still percent-encoded), no query."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as is, instead of body as JSON


Handler = Callable[[Seen, "re.Match[str]"], Reply]


@dataclass
class ApiServer:
    url: str = ""
    requests: list[Seen] = field(default_factory=list)
    routes: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)
    queued: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + "$"), handler))

    def queue(self, method: str, path: str, *replies: Reply) -> None:
        """Answer the next requests to `path` with `replies` before its route does."""
        self.queued.setdefault((method, path), []).extend(replies)

    def calls(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        return [r for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)]

    def writes(self) -> list[Seen]:
        return [r for r in self.requests if r.method != "GET"]

    def answer(self, seen: Seen) -> Reply:
        with self.lock:
            self.requests.append(seen)
            waiting = self.queued.get((seen.method, seen.path))
            if waiting:
                return waiting.pop(0)
            for method, pattern, handler in self.routes:
                match = pattern.match(seen.path)
                if method == seen.method and match:
                    return handler(seen, match)
        return Reply(404, {"message": "Not Found"})


@contextmanager
def serve() -> Iterator[ApiServer]:
    state = ApiServer()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parts = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw) if raw else None
            reply = state.answer(Seen(self.command, parts.path, dict(parse_qsl(parts.query)),
                                      dict(self.headers.items()), body))
            data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = _handle  # noqa: N815 (http.server's names)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def new_side(patch: str) -> set[int]:
    """The head lines a patch shows, from its hunk headers alone (the fakes' own check,
    independent of the code under test)."""
    lines: set[int] = set()
    for start, count in re.findall(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", patch, re.M):
        lines.update(range(int(start), int(start) + int(count or 1)))
    return lines


def page_of(seen: Seen, items: list[Any], cap: int, style: str, url: str) -> Reply:
    """One page of `items`, at most `cap` (the fake's page size) whatever per_page asks;
    a next page announced the GitHub way (Link) or the GitLab way (x-next-page)."""
    page = int(seen.query.get("page", "1"))
    size = min(int(seen.query.get("per_page", "30")), cap)
    chunk = items[(page - 1) * size:page * size]
    headers: dict[str, str] = {}
    if page * size < len(items):
        if style == "github":
            query = "&".join(f"{k}={v}" for k, v in {**seen.query, "page": page + 1}.items())
            headers["Link"] = f'<{url}{seen.path}?{query}>; rel="next"'
        else:
            headers["x-next-page"] = str(page + 1)
    elif style == "gitlab":
        headers["x-next-page"] = ""
    return Reply(200, copy.deepcopy(chunk), headers)


class FakeGitHub:
    """Pull request 7 of octo/hello: files, review comments, reviews, issue comments."""

    base = "/repos/octo/hello"

    def __init__(self, server: ApiServer, page_size: int = 100) -> None:
        self.server = server
        self.page_size = page_size
        self.files: list[dict[str, Any]] = []
        self.review_comments: list[dict[str, Any]] = []
        self.issue_comments: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []
        self.refuse_reviews = False
        self._ids = iter(range(100, 10_000))
        pull = f"{self.base}/pulls/7"
        server.route("GET", f"{pull}/files", lambda s, m: self._page(s, self.files))
        server.route("GET", f"{pull}/comments",
                     lambda s, m: self._page(s, self.review_comments))
        server.route("POST", f"{pull}/reviews", self._review)
        server.route("GET", f"{self.base}/issues/7/comments",
                     lambda s, m: self._page(s, self.issue_comments))
        server.route("POST", f"{self.base}/issues/7/comments", self._comment)
        server.route("PATCH", rf"{self.base}/issues/comments/(\d+)", self._edit)

    @property
    def api_url(self) -> str:
        return self.server.url

    def add_file(self, filename: str, patch: str | None, status: str = "modified") -> None:
        entry = copy.deepcopy(fixture("github_pull_files")[0])
        entry.update(filename=filename, status=status)
        if patch is None:
            del entry["patch"]
        else:
            entry["patch"] = patch
        self.files.append(entry)

    def add_issue_comment(self, body: str, login: str = "octocat") -> int:
        entry = copy.deepcopy(fixture("github_issue_comments")[0])
        number = next(self._ids)
        entry.update(id=number, body=body, user={**entry["user"], "login": login},
                     html_url=f"https://github.com/octo/hello/pull/7#issuecomment-{number}")
        self.issue_comments.append(entry)
        return number

    def _page(self, seen: Seen, items: list[Any]) -> Reply:
        return page_of(seen, items, self.page_size, "github", self.server.url)

    def _review(self, seen: Seen, match: re.Match[str]) -> Reply:
        payload = seen.body
        shown = {f["filename"]: new_side(f.get("patch", "")) for f in self.files}
        for comment in payload.get("comments", []):
            lines = range(comment.get("start_line", comment["line"]), comment["line"] + 1)
            if self.refuse_reviews or not set(lines) <= shown.get(comment["path"], set()):
                return Reply(422, {"message": "Unprocessable Entity",
                                   "errors": ["Line could not be resolved"],
                                   "documentation_url": "https://docs.github.com/rest/pulls/"
                                                        "reviews#create-a-review-for-a-pull-"
                                                        "request", "status": "422"})
        review = copy.deepcopy(fixture("github_create_review"))
        number = next(self._ids)
        review.update(id=number, body=payload["body"], state="COMMENTED",
                      commit_id=payload["commit_id"],
                      html_url=f"https://github.com/octo/hello/pull/7#pullrequestreview-{number}")
        self.reviews.append(payload)
        for comment in payload.get("comments", []):
            stored = copy.deepcopy(fixture("github_review_comments")[0])
            stored.update(id=next(self._ids), pull_request_review_id=number,
                          path=comment["path"], body=comment["body"], line=comment["line"],
                          original_line=comment["line"], side=comment["side"],
                          start_line=comment.get("start_line"),
                          start_side=comment.get("start_side"),
                          commit_id=payload["commit_id"])
            self.review_comments.append(stored)
        return Reply(200, review)

    def _comment(self, seen: Seen, match: re.Match[str]) -> Reply:
        self.add_issue_comment(seen.body["body"], login="github-actions[bot]")
        return Reply(201, self.issue_comments[-1])

    def _edit(self, seen: Seen, match: re.Match[str]) -> Reply:
        for entry in self.issue_comments:
            if entry["id"] == int(match[1]):
                entry["body"] = seen.body["body"]
                return Reply(200, entry)
        return Reply(404, {"message": "Not Found"})


class FakeGitLab:
    """Merge request 3 of project 42: versions, diffs, discussions, notes."""

    def __init__(self, server: ApiServer, project: str = "42", page_size: int = 100,
                 head_sha: str = "h" * 40) -> None:
        self.server = server
        self.page_size = page_size
        self.mr = f"/api/v4/projects/{project}/merge_requests/3"
        self.merge_request = copy.deepcopy(fixture("gitlab_merge_request"))
        self.merge_request.update(iid=3, sha=head_sha,
                                  web_url="https://gitlab.example.com/team/app/-/"
                                          "merge_requests/3",
                                  diff_refs={"base_sha": "b" * 40, "start_sha": "s" * 40,
                                             "head_sha": head_sha})
        self.versions: list[dict[str, Any]] = []
        self.version_diffs: dict[int, list[dict[str, Any]]] = {}
        self.diffs: list[dict[str, Any]] = []
        self.discussions: list[dict[str, Any]] = copy.deepcopy(fixture("gitlab_discussions"))
        self.notes: list[dict[str, Any]] = []
        self._ids = iter(range(5000, 90_000))
        server.route("GET", self.mr, lambda s, m: Reply(200, self.merge_request))
        server.route("GET", f"{self.mr}/versions", lambda s, m: Reply(200, self.versions))
        server.route("GET", rf"{self.mr}/versions/(\d+)", self._version)
        server.route("GET", f"{self.mr}/diffs", lambda s, m: self._page(s, self.diffs))
        server.route("GET", f"{self.mr}/discussions",
                     lambda s, m: self._page(s, self.discussions))
        server.route("POST", f"{self.mr}/discussions", self._discuss)
        server.route("GET", f"{self.mr}/notes", lambda s, m: self._page(s, self.all_notes()))
        server.route("POST", f"{self.mr}/notes", self._note)
        server.route("PUT", rf"{self.mr}/notes/(\d+)", self._edit)

    @property
    def api_url(self) -> str:
        return self.server.url + "/api/v4"

    def add_diff(self, path: str, diff: str, old_path: str | None = None,
                 into: list[dict[str, Any]] | None = None) -> None:
        entry = copy.deepcopy(fixture("gitlab_diffs")[0])
        entry.update(old_path=old_path or path, new_path=path, diff=diff,
                     renamed_file=bool(old_path), new_file=diff.startswith("@@ -0,0"))
        (self.diffs if into is None else into).append(entry)

    def add_note(self, body: str, system: bool = False) -> int:
        note = copy.deepcopy(fixture("gitlab_note"))
        number = next(self._ids)
        note.update(id=number, body=body, system=system, noteable_iid=3)
        self.notes.append(note)
        return number

    def all_notes(self) -> list[dict[str, Any]]:
        return self.notes + [n for d in self.discussions for n in d["notes"]]

    def _page(self, seen: Seen, items: list[Any]) -> Reply:
        return page_of(seen, items, self.page_size, "gitlab", self.server.url)

    def _version(self, seen: Seen, match: re.Match[str]) -> Reply:
        number = int(match[1])
        version = next((v for v in self.versions if v["id"] == number), None)
        if version is None:
            return Reply(404, {"message": "404 Not found"})
        return Reply(200, {**version, "diffs": self.version_diffs.get(number, [])})

    def _discuss(self, seen: Seen, match: re.Match[str]) -> Reply:
        position = seen.body["position"]
        shown = {d["new_path"]: new_side(d["diff"]) for d in self.diffs}
        if position["new_line"] not in shown.get(position["new_path"], set()):
            return Reply(400, {"message": "400 Bad request - Note {:line_code=>[\"can't be "
                                          "blank\", \"must be a valid line code\"]}"})
        discussion = copy.deepcopy(fixture("gitlab_discussions")[0])
        note = discussion["notes"][0]
        note.update(id=next(self._ids), body=seen.body["body"],
                    position={**note["position"], **position, "line_range": None})
        discussion["id"] = f"{note['id']:040x}"
        self.discussions.append(discussion)
        return Reply(201, discussion)

    def _note(self, seen: Seen, match: re.Match[str]) -> Reply:
        self.add_note(seen.body["body"])
        return Reply(201, self.notes[-1])

    def _edit(self, seen: Seen, match: re.Match[str]) -> Reply:
        for note in self.notes:
            if note["id"] == int(match[1]):
                note["body"] = seen.body["body"]
                return Reply(200, note)
        return Reply(404, {"message": "404 Not found"})
