"""Forges: where the CI bot posts its review. `forge_from_env` builds one from CI variables.

GitHub Actions (`GITHUB_ACTIONS=true`):
  `GITHUB_API_URL` (default https://api.github.com; GitHub Enterprise sets its own),
  `GITHUB_REPOSITORY` (owner/name), the pull request number from `--pr` or the event
  JSON at `GITHUB_EVENT_PATH` (`pull_request.number`; an `issue_comment` on a pull
  request: `issue.number`), the token from `CODEGEN_HOOK_FORGE_TOKEN`, else
  `GITHUB_TOKEN` (a workflow must pass it: `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`).
GitLab CI (`GITLAB_CI=true`):
  `CI_API_V4_URL`, `CI_PROJECT_ID`, `CI_MERGE_REQUEST_IID` (set in merge request
  pipelines only) or `--pr`, the token from `CODEGEN_HOOK_FORGE_TOKEN`, else
  `GITLAB_TOKEN`: a project or personal access token with the `api` scope, since
  `CI_JOB_TOKEN` cannot create notes.

`forge_host(forge)` is the one host the CLI lets through the egress guard for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from codegen_hook.errors import ConfigError
from codegen_hook.forges.base import BOT_MARKER, Forge, Note, Published, Review, Suggestion
from codegen_hook.forges.github import GitHubForge
from codegen_hook.forges.gitlab import GitLabForge
from codegen_hook.forges.http import HttpOptions
from codegen_hook.registry import FORGES as FORGE_REGISTRY

__all__ = ["BOT_MARKER", "FORGES", "Forge", "GitHubForge", "GitLabForge", "HttpOptions",
           "Note", "Published", "Review", "Suggestion", "forge_from_env", "forge_host",
           "forge_token", "github_from_env", "gitlab_from_env"]

FORGES = ("auto", *FORGE_REGISTRY.names())
GITHUB_API = "https://api.github.com"


def forge_from_env(env: Mapping[str, str], kind: str = "auto", *,
                   pull_number: int | None = None,
                   options: HttpOptions = HttpOptions()) -> Forge:
    """The forge this CI job runs for, from its environment; `pull_number` (`--pr`) wins
    over the number the environment gives. Raises ConfigError naming a missing variable."""
    chosen = kind.strip().lower()
    if chosen not in FORGES:
        raise ConfigError(f"forge {kind!r} is unknown; use {', '.join(FORGES)}")
    if chosen == "auto":
        chosen = _detect(env)
    forge: Forge = FORGE_REGISTRY.load(chosen)(env, pull_number, options)
    return forge


def github_from_env(env: Mapping[str, str], pull_number: int | None,
                    options: HttpOptions) -> Forge:
    """GitHub Actions' variables (the module's docstring lists them)."""
    return GitHubForge(
        env.get("GITHUB_API_URL") or GITHUB_API,
        _required(env, "GITHUB_REPOSITORY", "set it to owner/name (GitHub Actions sets "
                                            "it)"),
        pull_number or _github_pull_number(env),
        _token(env, "GITHUB_TOKEN", "in the workflow: `env: GITHUB_TOKEN: "
                                    "${{ secrets.GITHUB_TOKEN }}`"),
        options=options)


def gitlab_from_env(env: Mapping[str, str], pull_number: int | None,
                    options: HttpOptions) -> Forge:
    """GitLab CI's variables (the module's docstring lists them)."""
    return GitLabForge(
        _required(env, "CI_API_V4_URL", "e.g. https://gitlab.example.com/api/v4 (GitLab CI "
                                        "sets it)"),
        _required(env, "CI_PROJECT_ID", "GitLab CI sets it"),
        pull_number or _gitlab_mr_iid(env),
        _token(env, "GITLAB_TOKEN", "a project or personal access token with the api "
                                    "scope, as a masked CI/CD variable; CI_JOB_TOKEN "
                                    "cannot create notes"),
        options=options)


def forge_host(forge: Forge) -> str:
    """The host `forge` connects to (for the egress guard); "" if it uses no network."""
    return (urlsplit(forge.api_url).hostname or "").lower() if forge.api_url else ""


def _detect(env: Mapping[str, str]) -> str:
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    raise ConfigError("cannot tell which forge to post to: neither GITHUB_ACTIONS=true "
                      "(GitHub Actions) nor GITLAB_CI=true (GitLab CI) is set; pass "
                      "--forge github or --forge gitlab")


def _required(env: Mapping[str, str], name: str, hint: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set; {hint}")
    return value


def forge_token(env: Mapping[str, str], forge_variable: str) -> str:
    """CODEGEN_HOOK_FORGE_TOKEN, else the forge's own variable (GITHUB_TOKEN, GITLAB_TOKEN);
    "" when neither is set."""
    for name in ("CODEGEN_HOOK_FORGE_TOKEN", forge_variable):
        value = env.get(name, "").strip()
        if value:
            return value
    return ""


def _token(env: Mapping[str, str], forge_variable: str, hint: str) -> str:
    value = forge_token(env, forge_variable)
    if value:
        return value
    raise ConfigError(f"no forge token: set CODEGEN_HOOK_FORGE_TOKEN or {forge_variable} "
                      f"({hint})")


def _github_pull_number(env: Mapping[str, str]) -> int:
    path = env.get("GITHUB_EVENT_PATH", "").strip()
    if not path:
        raise ConfigError("no pull request number: GITHUB_EVENT_PATH is not set (GitHub "
                          "Actions sets it); pass --pr N")
    try:
        event: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"GITHUB_EVENT_PATH {path!r} cannot be read ({exc.strerror}); "
                          "pass --pr N") from None
    except ValueError:
        raise ConfigError(f"GITHUB_EVENT_PATH {path!r} is not JSON; pass --pr N") from None
    number = _dig(event, "pull_request", "number")
    issue = _dig(event, "issue")
    if number is None and isinstance(issue, dict) and "pull_request" in issue:
        number = issue.get("number")  # a comment on a pull request
    if isinstance(number, int) and not isinstance(number, bool) and number > 0:
        return number
    name = env.get("GITHUB_EVENT_NAME") or "this"
    raise ConfigError(f"no pull request number: the {name} event at GITHUB_EVENT_PATH has "
                      "no pull_request.number; run the workflow `on: pull_request`, or "
                      "pass --pr N")


def _gitlab_mr_iid(env: Mapping[str, str]) -> int:
    value = _required(env, "CI_MERGE_REQUEST_IID",
                      "it is set in merge request pipelines only: give the job `rules: "
                      "- if: $CI_PIPELINE_SOURCE == \"merge_request_event\"`, or pass --pr N")
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"CI_MERGE_REQUEST_IID {value!r} is not a number; pass "
                          "--pr N") from None


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
