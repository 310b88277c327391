"""Fixtures shared by the sandbox tests."""

from __future__ import annotations

import os

import pytest

from codegen_hook.errors import SandboxUnavailableError
from codegen_hook.isolation.docker import DEFAULT_IMAGE, DockerSandbox, docker_client


@pytest.fixture(scope="session")
def docker_sandbox() -> DockerSandbox:
    """The real docker sandbox. Skipped only where no Docker engine answers; where one
    answers, a missing image fails under CI (.ci/run builds it) and skips elsewhere."""
    try:
        client = docker_client()
    except SandboxUnavailableError as exc:
        pytest.skip(f"no Docker engine here: {exc}")
    try:
        return DockerSandbox(DEFAULT_IMAGE, client)
    except SandboxUnavailableError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must build the image first: {exc}")
        pytest.skip(str(exc))
