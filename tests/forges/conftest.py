"""Fixtures: a loopback API server, and the GitHub / GitLab fakes on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codegen_hook.forges.http import HttpOptions
from tests.forges.servers import ApiServer, FakeGitHub, FakeGitLab, serve


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with serve() as state:
        yield state


@pytest.fixture
def github(server: ApiServer) -> FakeGitHub:
    return FakeGitHub(server)


@pytest.fixture
def gitlab(server: ApiServer) -> FakeGitLab:
    return FakeGitLab(server)


@pytest.fixture
def slept() -> list[float]:
    """The waits a client asked for, instead of sleeping them."""
    return []


@pytest.fixture
def options(slept: list[float]) -> HttpOptions:
    return HttpOptions(timeout=5.0, retries=3, sleep=slept.append, clock=lambda: 1_000_000.0)
