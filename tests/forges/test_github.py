"""GitHubForge against a loopback fake of the GitHub REST endpoints it calls."""

from __future__ import annotations

import re

import pytest

from codegen_hook.errors import ConfigError, ForgeError
from codegen_hook.forges.base import BOT_MARKER, Note, Review, Suggestion
from codegen_hook.forges.diff import parse_hunks
from codegen_hook.forges.github import GitHubForge
from codegen_hook.forges.http import HttpOptions
from tests.forges.servers import ApiServer, FakeGitHub, Reply, fixture

HEAD = "a" * 40
CALC_PATCH = ('@@ -0,0 +1,5 @@\n+import math\n+\n+def add(a: int, b: int) -> int:\n'
              '+    """Add."""\n+    ...\n')
UTIL_PATCH = ('@@ -8,6 +8,9 @@ def helper():\n     x = 1\n     y = 2\n \n'
              '+def scale(v: float) -> float:\n+    """Scale."""\n+    ...\n'
              '     return x\n \n def other():\n')
ADD = Suggestion("pkg/calc.py", 3, 5,
                 'def add(a: int, b: int) -> int:\n    """Add."""\n    return a + b',
                 "`add` ✅ verified: tests 2/2")
SCALE = Suggestion("pkg/util.py", 11, 13,
                   'def scale(v: float) -> float:\n    """Scale."""\n    return v * 2.0',
                   "`scale` ✅ verified")
FAR = Suggestion("pkg/util.py", 40, 42, "def far() -> int:\n    return 1", "`far` ✅ verified")
NOTE = Note("pkg/util.py", 9, "`y` was not filled: no candidate passed.\n\n"
                              "```python\ndef y():\n    return 0\n```")
REVIEW = Review("### codegen-hook\nFilled **3** of 4 stubs.", "b" * 40, HEAD,
                (ADD, SCALE, FAR), (NOTE,))


@pytest.fixture
def pull(github: FakeGitHub) -> FakeGitHub:
    github.add_file("pkg/calc.py", CALC_PATCH, status="added")
    github.add_file("pkg/util.py", UTIL_PATCH)
    github.add_file("logo.png", None)  # binary: no patch
    github.add_issue_comment("Looks interesting!")
    return github


def forge(github: FakeGitHub, options: HttpOptions) -> GitHubForge:
    return GitHubForge(github.api_url, "octo/hello", 7, "ghs_token", options=options)


def test_one_review_with_a_suggestion_per_stub_and_the_note(
        pull: FakeGitHub, server: ApiServer, options: HttpOptions) -> None:
    published = forge(pull, options).publish(REVIEW)

    [review] = [r.body for r in server.calls("POST", "/repos/octo/hello/pulls/7/reviews")]
    assert review["commit_id"] == HEAD and review["event"] == "COMMENT" and review["body"]
    assert review["comments"] == [
        {"path": "pkg/calc.py", "start_line": 3, "start_side": "RIGHT", "line": 5,
         "side": "RIGHT",
         "body": "`add` ✅ verified: tests 2/2\n\n```suggestion\ndef add(a: int, b: int) -> "
                 "int:\n    \"\"\"Add.\"\"\"\n    return a + b\n```"},
        {"path": "pkg/util.py", "start_line": 11, "start_side": "RIGHT", "line": 13,
         "side": "RIGHT",
         "body": "`scale` ✅ verified\n\n```suggestion\ndef scale(v: float) -> float:\n    "
                 "\"\"\"Scale.\"\"\"\n    return v * 2.0\n```"},
        {"path": "pkg/util.py", "line": 9, "side": "RIGHT", "body": NOTE.body},
    ]
    assert re.fullmatch(r"https://github.com/octo/hello/pull/7#pullrequestreview-\d+",
                        published.review_url)
    assert published.comments == 3
    assert published.skipped == ["pkg/util.py:40-42: outside the pull request's diff; shown "
                                 "in the summary instead"]
    headers = server.requests[0].headers
    assert headers["Authorization"] == "Bearer ghs_token"
    assert headers["Accept"] == "application/vnd.github+json"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_the_summary_carries_the_marker_and_the_suggestion_outside_the_diff(
        pull: FakeGitHub, server: ApiServer, options: HttpOptions) -> None:
    published = forge(pull, options).publish(REVIEW)

    [posted] = server.calls("POST", "/repos/octo/hello/issues/7/comments")
    body = posted.body["body"]
    assert body.startswith(f"{BOT_MARKER}\n### codegen-hook\nFilled **3** of 4 stubs.\n")
    assert "**`pkg/util.py` lines 40–42** (replace these lines with):" in body
    assert "`far` ✅ verified\n\n```python\ndef far() -> int:\n    return 1\n```" in body
    assert not published.summary_updated
    assert published.summary_url == pull.issue_comments[-1]["html_url"]


def test_a_second_publish_updates_the_summary_and_posts_nothing_twice(
        pull: FakeGitHub, server: ApiServer, options: HttpOptions) -> None:
    forge(pull, options).publish(REVIEW)
    first = pull.issue_comments[-1]["id"]
    server.requests.clear()
    again = forge(pull, options).publish(REVIEW)

    assert server.calls("POST") == []
    [edit] = server.calls("PATCH")
    assert edit.path == f"/repos/octo/hello/issues/comments/{first}"
    assert edit.body["body"].startswith(BOT_MARKER)
    assert again.summary_updated and again.comments == 0
    assert again.skipped == [
        "pkg/calc.py:3-5: already suggested by an earlier run",
        "pkg/util.py:11-13: already suggested by an earlier run",
        "pkg/util.py:40-42: outside the pull request's diff; shown in the summary instead",
        "pkg/util.py:9: note already posted by an earlier run"]
    assert len(pull.issue_comments) == 2 and len(pull.reviews) == 1


def test_a_changed_suggestion_is_posted_again_on_a_rerun(
        pull: FakeGitHub, server: ApiServer, options: HttpOptions) -> None:
    forge(pull, options).publish(Review("S", "b" * 40, HEAD, (ADD,)))
    better = Suggestion(ADD.path, 3, 5, ADD.replacement.replace("a + b", "b + a"), ADD.comment)
    forge(pull, options).publish(Review("S", "b" * 40, HEAD, (better,)))
    assert [c["body"].count("b + a") for r in pull.reviews for c in r["comments"]] == [0, 1]


def test_a_one_line_suggestion_has_no_start_line_and_a_longer_fence_around_backticks(
        pull: FakeGitHub, server: ApiServer, options: HttpOptions) -> None:
    one = Suggestion("pkg/calc.py", 5, 5, '    return "```"', "fills `...`")
    forge(pull, options).publish(Review("S", "b" * 40, HEAD, (one,)))
    [comment] = pull.reviews[0]["comments"]
    assert comment == {"path": "pkg/calc.py", "line": 5, "side": "RIGHT",
                       "body": 'fills `...`\n\n````suggestion\n    return "```"\n````'}


def test_the_earlier_summary_is_found_on_a_later_page(
        github: FakeGitHub, server: ApiServer, options: HttpOptions) -> None:
    github.page_size = 2
    github.add_file("pkg/calc.py", CALC_PATCH, status="added")
    for number in range(3):
        github.add_issue_comment(f"comment {number}")
    mine = github.add_issue_comment(f"{BOT_MARKER}\nold summary", login="github-actions[bot]")
    github.add_issue_comment("after")

    published = forge(github, options).publish(Review("new summary", "b" * 40, HEAD, (ADD,)))
    assert [r.query.get("page") for r in
            server.calls("GET", "/repos/octo/hello/issues/7/comments")] == [None, "2"]
    assert server.calls("GET", "/repos/octo/hello/issues/7/comments")[0].query == {
        "per_page": "100"}
    [edit] = server.calls("PATCH")
    assert edit.path == f"/repos/octo/hello/issues/comments/{mine}"
    assert edit.body == {"body": f"{BOT_MARKER}\nnew summary"}
    assert published.summary_updated


def test_a_review_github_refuses_goes_into_the_summary(
        pull: FakeGitHub, server: ApiServer, options: HttpOptions) -> None:
    pull.refuse_reviews = True
    published = forge(pull, options).publish(REVIEW)

    assert len(server.calls("POST", "/repos/octo/hello/pulls/7/reviews")) == 1  # no retry
    body = server.calls("POST", "/repos/octo/hello/issues/7/comments")[0].body["body"]
    for suggestion in (ADD, SCALE, FAR):
        assert f"```python\n{suggestion.replacement}\n```" in body
    assert NOTE.body in body
    assert published.comments == 0 and published.review_url == ""
    assert ("pkg/calc.py:3-5: GitHub refused the review (Unprocessable Entity; Line could not "
            "be resolved); shown in the summary instead") in published.skipped
    assert len(published.skipped) == 4


def test_a_502_on_the_review_is_retried(pull: FakeGitHub, server: ApiServer,
                                        options: HttpOptions, slept: list[float]) -> None:
    server.queue("POST", "/repos/octo/hello/pulls/7/reviews",
                 Reply(502, {"message": "Server Error"}))
    published = forge(pull, options).publish(REVIEW)
    assert len(server.calls("POST", "/repos/octo/hello/pulls/7/reviews")) == 2
    assert len(pull.reviews) == 1 and published.comments == 3 and slept == [1.0]


def test_no_review_when_nothing_fits_inline(pull: FakeGitHub, server: ApiServer,
                                            options: HttpOptions) -> None:
    published = forge(pull, options).publish(Review("S", "b" * 40, HEAD, (FAR,)))
    assert server.calls("POST", "/repos/octo/hello/pulls/7/reviews") == []
    assert published.review_url == "" and published.summary_url


def test_a_permission_error_names_the_fix(pull: FakeGitHub, server: ApiServer,
                                          options: HttpOptions) -> None:
    server.queue("POST", "/repos/octo/hello/pulls/7/reviews",
                 Reply(403, {"message": "Resource not accessible by integration"}))
    with pytest.raises(ForgeError, match=r"POST /repos/octo/hello/pulls/7/reviews failed: 403 "
                                         r"Forbidden: Resource not accessible by integration; "
                                         r"the token may not write here; give the "
                                         r"workflow `permissions: pull-requests: write`"):
        forge(pull, options).publish(REVIEW)


def test_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match="not owner/name; fix GITHUB_REPOSITORY"):
        GitHubForge("https://api.github.com", "hello", 7, "t")
    with pytest.raises(ConfigError, match="pass --pr N"):
        GitHubForge("https://api.github.com", "octo/hello", 0, "t")
    with pytest.raises(ConfigError, match="no GitHub token"):
        GitHubForge("https://api.github.com", "octo/hello", 7, "")


def test_the_docs_example_patch_parses() -> None:
    """The 'List pull requests files' example: its one-line patch holds one hunk header
    that counts (the second header is on the same line)."""
    [entry] = fixture("github_pull_files")
    [hunk] = parse_hunks(entry["patch"])
    assert (hunk.new_start, hunk.new_end) == (132, 138)
