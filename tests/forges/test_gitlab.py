"""GitLabForge against a loopback fake of the GitLab API v4 endpoints it calls."""

from __future__ import annotations

from typing import Any

import pytest

from codegen_hook.errors import ConfigError, ForgeError
from codegen_hook.forges.base import BOT_MARKER, Note, Review
from codegen_hook.forges.diff import parse_hunks
from codegen_hook.forges.gitlab import GitLabForge
from codegen_hook.forges.http import HttpOptions
from tests.forges.servers import ApiServer, FakeGitLab, Reply, fixture, serve
from tests.forges.test_github import ADD, CALC_PATCH, FAR, SCALE, UTIL_PATCH

HEAD = "h" * 40
MR = "/api/v4/projects/42/merge_requests/3"
NOTE = Note("pkg/util.py", 14, "`scale` left as is: see the summary.")
REVIEW = Review("### codegen-hook\nFilled **3** of 4 stubs.", "b" * 40, HEAD,
                (ADD, SCALE, FAR), (NOTE,))


@pytest.fixture
def merge(gitlab: FakeGitLab) -> FakeGitLab:
    gitlab.add_diff("pkg/calc.py", CALC_PATCH)
    gitlab.add_diff("pkg/util.py", UTIL_PATCH)
    gitlab.add_note("Nice idea")
    return gitlab


def forge(gitlab: FakeGitLab, options: HttpOptions, project: str = "42") -> GitLabForge:
    return GitLabForge(gitlab.api_url, project, 3, "glpat-token", options=options)


def position(path: str, line: int, **extra: Any) -> dict[str, Any]:
    return {"position_type": "text", "base_sha": "b" * 40, "start_sha": "s" * 40,
            "head_sha": HEAD, "old_path": path, "new_path": path, "new_line": line, **extra}


def test_one_thread_per_suggestion_on_its_first_line(merge: FakeGitLab, server: ApiServer,
                                                     options: HttpOptions) -> None:
    published = forge(merge, options).publish(REVIEW)

    threads = [r.body for r in server.calls("POST", f"{MR}/discussions")]
    assert threads == [
        {"body": "`add` ✅ verified: tests 2/2\n\n```suggestion:-0+2\ndef add(a: int, b: int) "
                 "-> int:\n    \"\"\"Add.\"\"\"\n    return a + b\n```",
         "position": position("pkg/calc.py", 3)},
        {"body": "`scale` ✅ verified\n\n```suggestion:-0+2\ndef scale(v: float) -> float:\n"
                 "    \"\"\"Scale.\"\"\"\n    return v * 2.0\n```",
         "position": position("pkg/util.py", 11)},
        # an unchanged line: its old number too (line 14 was line 11 before the change)
        {"body": NOTE.body, "position": position("pkg/util.py", 14, old_line=11)},
    ]
    assert published.comments == 3
    assert published.review_url.startswith(
        "https://gitlab.example.com/team/app/-/merge_requests/3#note_")
    assert published.skipped == ["pkg/util.py:40-42: outside the merge request's diff; "
                                 "shown in the summary instead"]
    assert all(r.headers["PRIVATE-TOKEN"] == "glpat-token" for r in server.requests)
    assert server.calls("GET", f"{MR}/diffs")[0].query == {"per_page": "100"}


def test_the_summary_note_has_the_marker_and_the_suggestion_outside_the_diff(
        merge: FakeGitLab, server: ApiServer, options: HttpOptions) -> None:
    published = forge(merge, options).publish(REVIEW)

    [note] = server.calls("POST", f"{MR}/notes")
    assert note.body["body"].startswith(f"{BOT_MARKER}\n### codegen-hook\n")
    assert "```python\ndef far() -> int:\n    return 1\n```" in note.body["body"]
    assert published.summary_url == (f"https://gitlab.example.com/team/app/-/merge_requests/3"
                                     f"#note_{merge.notes[-1]['id']}")
    assert not published.summary_updated
    assert server.calls("GET", f"{MR}/notes")[0].query == {
        "per_page": "100", "sort": "asc", "order_by": "created_at"}


def test_a_second_publish_updates_the_summary_and_posts_no_thread_twice(
        merge: FakeGitLab, server: ApiServer, options: HttpOptions) -> None:
    forge(merge, options).publish(REVIEW)
    summary = merge.notes[-1]["id"]
    server.requests.clear()
    again = forge(merge, options).publish(REVIEW)

    assert server.calls("POST") == []
    [edit] = server.calls("PUT")
    assert edit.path == f"{MR}/notes/{summary}" and edit.body["body"].startswith(BOT_MARKER)
    assert again.summary_updated and again.comments == 0
    assert again.skipped == [
        "pkg/calc.py:3-5: already suggested by an earlier run",
        "pkg/util.py:11-13: already suggested by an earlier run",
        "pkg/util.py:40-42: outside the merge request's diff; shown in the summary instead",
        "pkg/util.py:14: note already posted by an earlier run"]


def test_a_position_gitlab_refuses_goes_into_the_summary(
        merge: FakeGitLab, server: ApiServer, options: HttpOptions, slept: list[float]) -> None:
    server.queue("POST", f"{MR}/discussions", Reply(400, {
        "message": "400 Bad request - Note {:line_code=>[\"can't be blank\", \"must be a "
                   "valid line code\"]}"}))
    published = forge(merge, options).publish(REVIEW)

    assert len(server.calls("POST", f"{MR}/discussions")) == 3 and slept == []
    assert published.comments == 2
    assert [s for s in published.skipped if s.startswith(
        "pkg/calc.py:3-5: GitLab refused the position (400 Bad request - Note {:line_code=>")]
    summary = server.calls("POST", f"{MR}/notes")[0].body["body"]
    assert f"```python\n{ADD.replacement}\n```" in summary


def test_an_older_version_is_used_when_the_head_has_moved_on(
        merge: FakeGitLab, server: ApiServer, options: HttpOptions) -> None:
    merge.merge_request["diff_refs"]["head_sha"] = "n" * 40  # pushed again since
    merge.versions = [
        {**fixture("gitlab_versions")[0], "id": 2, "head_commit_sha": "n" * 40},
        {**fixture("gitlab_versions")[0], "id": 1, "head_commit_sha": HEAD,
         "base_commit_sha": "B" * 40, "start_commit_sha": "S" * 40}]
    older: list[dict[str, Any]] = []
    merge.add_diff("pkg/calc.py", CALC_PATCH, into=older)
    merge.version_diffs[1] = older

    forge(merge, options).publish(Review("S", "b" * 40, HEAD, (ADD,)))
    [thread] = server.calls("POST", f"{MR}/discussions")
    assert thread.body["position"] == {**position("pkg/calc.py", 3), "base_sha": "B" * 40,
                                       "start_sha": "S" * 40}
    assert server.calls("GET", f"{MR}/versions/1") and not server.calls("GET", f"{MR}/diffs")


def test_a_head_that_is_no_version_of_the_merge_request_is_an_error(
        merge: FakeGitLab, options: HttpOptions) -> None:
    merge.merge_request["diff_refs"]["head_sha"] = "n" * 40
    merge.versions = fixture("gitlab_versions")
    with pytest.raises(ForgeError, match=r"head commit hhhhhhhhhhhh is not a version of merge "
                                         r"request !3.*CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"):
        forge(merge, options).publish(Review("S", "b" * 40, HEAD, (ADD,)))


def test_a_project_path_is_url_encoded_and_pages_are_followed(options: HttpOptions) -> None:
    with serve() as server:
        gitlab = FakeGitLab(server, project="team%2Fapp", page_size=1)
        gitlab.add_diff("README", "@@ -1 +1 @@\n-Title\n+README")
        gitlab.add_diff("pkg/calc.py", CALC_PATCH, old_path="pkg/old_calc.py")
        forge(gitlab, options, project="team/app").publish(Review("S", "b" * 40, HEAD, (ADD,)))
        mr = "/api/v4/projects/team%2Fapp/merge_requests/3"
        assert [r.query.get("page") for r in server.calls("GET", f"{mr}/diffs")] == [None, "2"]
        assert [r.query.get("page") for r in server.calls("GET", f"{mr}/discussions")] == [
            None, "2"]
        [thread] = server.calls("POST", f"{mr}/discussions")
        assert thread.body["position"]["old_path"] == "pkg/old_calc.py"


def test_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match="CI_JOB_TOKEN cannot create notes"):
        GitLabForge("https://gitlab.example.com/api/v4", 42, 3, "")
    with pytest.raises(ConfigError, match="pass --pr N"):
        GitLabForge("https://gitlab.example.com/api/v4", 42, 0, "t")
    with pytest.raises(ConfigError, match="must use https.*CI_API_V4_URL"):
        GitLabForge("http://gitlab.example.com/api/v4", 42, 3, "t")


def test_the_docs_example_diffs_parse() -> None:
    readme, version = fixture("gitlab_diffs")
    [hunk] = parse_hunks(readme["diff"])
    assert (hunk.new_start, hunk.new_end, hunk.old_of) == (1, 1, {})
    assert len(parse_hunks(version["diff"])) == 1
