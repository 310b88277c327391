"""forge_from_env: GitHub Actions and GitLab CI variables; forge_host; the fake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codegen_hook.errors import ConfigError, ForgeError
from codegen_hook.forges import GitHubForge, GitLabForge, forge_from_env, forge_host
from codegen_hook.forges.base import Review
from codegen_hook.forges.fake import RecordingForge
from codegen_hook.forges.http import HttpOptions
from tests.forges.servers import ApiServer, FakeGitHub
from tests.forges.test_github import ADD, CALC_PATCH


def event(tmp_path: Path, payload: object) -> str:
    path = tmp_path / f"event-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(payload))
    return str(path)


def actions(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo/hello",
            "GITHUB_EVENT_NAME": "pull_request", "GITHUB_TOKEN": "ghs_x",
            "GITHUB_EVENT_PATH": event(tmp_path, {"action": "opened", "number": 7,
                                                  "pull_request": {"number": 7}}), **extra}


GITLAB = {"GITLAB_CI": "true", "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
          "CI_PROJECT_ID": "42", "CI_MERGE_REQUEST_IID": "3", "GITLAB_TOKEN": "glpat-x"}


def test_github_actions(tmp_path: Path) -> None:
    forge = forge_from_env(actions(tmp_path))
    assert isinstance(forge, GitHubForge)
    assert (forge.api_url, forge.repository, forge.pull_number) == (
        "https://api.github.com", "octo/hello", 7)
    assert forge_host(forge) == "api.github.com"


def test_github_enterprise_api_url_and_pr_flag(tmp_path: Path) -> None:
    env = actions(tmp_path, GITHUB_API_URL="https://GHE.example.com/api/v3")
    forge = forge_from_env(env, pull_number=12)
    assert isinstance(forge, GitHubForge) and forge.pull_number == 12
    assert forge_host(forge) == "ghe.example.com"


def test_a_comment_on_a_pull_request_gives_its_number(tmp_path: Path) -> None:
    env = actions(tmp_path, GITHUB_EVENT_NAME="issue_comment", GITHUB_EVENT_PATH=event(
        tmp_path, {"issue": {"number": 9, "pull_request": {"url": "u"}}}))
    forge = forge_from_env(env)
    assert isinstance(forge, GitHubForge) and forge.pull_number == 9


def test_a_push_event_has_no_pull_request(tmp_path: Path) -> None:
    env = actions(tmp_path, GITHUB_EVENT_NAME="push",
                  GITHUB_EVENT_PATH=event(tmp_path, {"ref": "refs/heads/main"}))
    with pytest.raises(ConfigError, match=r"the push event at GITHUB_EVENT_PATH has no "
                                          r"pull_request.number.*pass --pr N"):
        forge_from_env(env)


@pytest.mark.parametrize("missing", ["GITHUB_REPOSITORY", "GITHUB_EVENT_PATH", "GITHUB_TOKEN"])
def test_a_missing_github_variable_is_named(tmp_path: Path, missing: str) -> None:
    env = actions(tmp_path)
    del env[missing]
    with pytest.raises(ConfigError, match=missing):
        forge_from_env(env)


def test_the_tool_token_wins_over_github_token(tmp_path: Path, github: FakeGitHub,
                                               server: ApiServer) -> None:
    github.add_file("pkg/calc.py", CALC_PATCH)
    env = actions(tmp_path, GITHUB_API_URL=github.api_url, CODEGEN_HOOK_FORGE_TOKEN="pat_y")
    forge_from_env(env, options=HttpOptions(retries=0)).publish(
        Review("S", "b" * 40, "a" * 40, (ADD,)))
    assert {r.headers["Authorization"] for r in server.requests} == {"Bearer pat_y"}


def test_gitlab_ci() -> None:
    forge = forge_from_env(GITLAB)
    assert isinstance(forge, GitLabForge)
    assert (forge.api_url, forge.project_id, forge.mr_iid) == (
        "https://gitlab.example.com/api/v4", "42", 3)
    assert forge_host(forge) == "gitlab.example.com"
    assert forge_from_env({**GITLAB, "CODEGEN_HOOK_FORGE_TOKEN": "p"}, "gitlab").name == "gitlab"


@pytest.mark.parametrize("missing", ["CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID"])
def test_a_missing_gitlab_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in GITLAB.items() if k != missing}
    with pytest.raises(ConfigError, match=f"^{missing} is not set"):
        forge_from_env(env)


def test_gitlab_needs_an_access_token_not_the_job_token() -> None:
    env = {k: v for k, v in GITLAB.items() if k != "GITLAB_TOKEN"}
    with pytest.raises(ConfigError, match="CODEGEN_HOOK_FORGE_TOKEN or GITLAB_TOKEN.*"
                                          "CI_JOB_TOKEN cannot create notes"):
        forge_from_env({**env, "CI_JOB_TOKEN": "job"})


def test_outside_ci_the_forge_must_be_named() -> None:
    with pytest.raises(ConfigError, match="pass --forge github or --forge gitlab"):
        forge_from_env({})
    with pytest.raises(ConfigError, match="forge 'bitbucket' is unknown"):
        forge_from_env(GITLAB, "bitbucket")


def test_the_recording_forge_keeps_what_it_is_given() -> None:
    fake = RecordingForge()
    review = Review("S", "b" * 40, "a" * 40, (ADD,))
    first, second = fake.publish(review), fake.publish(review)
    assert fake.reviews == [review, review] and forge_host(fake) == ""
    assert (first.summary_updated, second.summary_updated, second.comments) == (False, True, 1)
    with pytest.raises(ForgeError, match="down"):
        RecordingForge(fail=ForgeError("down")).publish(review)
