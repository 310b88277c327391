"""The real docker sandbox against the local engine and the built image.

Skipped only where no Docker engine answers; where one answers, a missing image is
a failure under CI (.ci/run builds it) and a skip elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from codegen_hook.config import Settings
from codegen_hook.errors import SandboxUnavailableError
from codegen_hook.isolation import select_sandbox
from codegen_hook.isolation.base import SandboxJob
from codegen_hook.isolation.docker import DockerSandbox


@pytest.fixture(scope="module")
def sandbox(docker_sandbox: DockerSandbox) -> DockerSandbox:
    return docker_sandbox


def containers(sandbox: DockerSandbox) -> set[str]:
    return {c.id for c in sandbox.client.containers.list(all=True)}


def test_runs_as_an_unprivileged_uid_with_an_empty_environment(
        sandbox: DockerSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_SECRET", "s3cr3t-canary")
    before = containers(sandbox)
    result = sandbox.run(SandboxJob(files={"m.py": "import json, os\nprint(json.dumps("
                                           "[os.getuid(), dict(os.environ)]))"},
                                    entry="m.py"))
    assert result.ok and result.sandbox == "docker", result.stderr
    uid, env = json.loads(result.stdout)
    assert uid != 0 and "s3cr3t-canary" not in result.stdout
    assert set(env) <= {"HOME", "LANG", "PATH", "HOSTNAME"}
    assert containers(sandbox) == before  # the container was removed


def test_no_network_reaches_a_host_listener(sandbox: DockerSandbox) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', %d), 2)\n"
                "    print('CONNECTED')\nexcept OSError as exc:\n    print('blocked', exc)\n"
                % port)
        result = sandbox.run(SandboxJob(files={"m.py": code}, entry="m.py"))
        assert "blocked" in result.stdout and "CONNECTED" not in result.stdout
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_root_is_read_only_and_scratch_is_writable(sandbox: DockerSandbox) -> None:
    code = ("import os\nopen('/work/ok', 'w').write('x')\ntry:\n    open('/etc/x', 'w')\n"
            "    print('WROTE')\nexcept OSError as exc:\n    print('denied', exc.errno)\n")
    result = sandbox.run(SandboxJob(files={"m.py": code}, entry="m.py"))
    assert result.ok and "denied" in result.stdout and "WROTE" not in result.stdout


def test_binds_are_visible_read_only(sandbox: DockerSandbox) -> None:
    folder = Path(tempfile.mkdtemp(prefix="codegen-hook-bind-test-"))
    try:
        os.chmod(folder, 0o755)
        (folder / "data.txt").write_text("bound\n")
        os.chmod(folder / "data.txt", 0o644)
        code = ("print(open('/env/data.txt').read().strip())\n"
                "try:\n    open('/env/new.txt', 'w')\n"
                "except OSError as exc:\n    print('REFUSED', type(exc).__name__)\n")
        result = sandbox.run(SandboxJob(files={"main.py": code}, entry="main.py",
                                        binds=((str(folder), "/env"),)))
        assert result.ok, result.stderr
        assert result.stdout.splitlines() == ["bound", "REFUSED OSError"]
    finally:
        shutil.rmtree(folder)


def test_limits_are_verdicts(sandbox: DockerSandbox) -> None:
    spin = sandbox.run(SandboxJob(files={"m.py": "while True:\n    pass\n"}, entry="m.py",
                                  timeout=2))
    assert spin.verdict == "timeout"
    bomb = sandbox.run(SandboxJob(files={"m.py": "a = bytearray(2 << 30)\n"}, entry="m.py",
                                  memory_mb=128))
    assert bomb.verdict == "memory"
    flood = sandbox.run(SandboxJob(files={"m.py": "print('x' * 50_000_000)\n"}, entry="m.py",
                                   output_limit=1 << 16))
    assert flood.verdict == "killed" and flood.truncated
    assert len(flood.stdout) + len(flood.stderr) <= 1 << 16


def test_fork_bomb_is_contained_and_the_next_run_works(sandbox: DockerSandbox) -> None:
    code = ("import os\nwhile True:\n    try:\n        os.fork()\n"
            "    except OSError:\n        pass\n")
    result = sandbox.run(SandboxJob(files={"m.py": code}, entry="m.py", timeout=3))
    assert result.verdict != "ok"
    after = sandbox.run(SandboxJob(files={"m.py": "print('next')"}, entry="m.py"))
    assert after.ok and after.stdout.strip() == "next"


def test_select_sandbox_auto_takes_docker_when_its_image_exists(sandbox: DockerSandbox) -> None:
    assert select_sandbox(Settings(sandbox="auto")).name == "docker"
    assert select_sandbox(Settings(sandbox="bwrap")).name == "bwrap"


def test_missing_image_names_the_build_command(sandbox: DockerSandbox) -> None:
    with pytest.raises(SandboxUnavailableError, match="codegen-hook sandbox build"):
        DockerSandbox("codegen-hook-sandbox:does-not-exist", sandbox.client)


def test_fill_verifies_through_docker(sandbox: DockerSandbox, tmp_path: Path) -> None:
    from codegen_hook.backends.fake import ScriptedBackend
    from codegen_hook.pipeline.run import fill_paths
    path = tmp_path / "strings.py"
    path.write_text('def count_chars(s: str, char: str) -> int:\n    """Count.\n\n'
                    '    >>> count_chars("strawberry", "r")\n    3\n    """\n    ...\n')
    backend = ScriptedBackend(["```python\ndef count_chars(s: str, char: str) -> int:\n"
                               "    return s.count(char)\n```"])
    report = fill_paths([path], Settings(checks=(), candidates=1, generated_tests=False),
                        tmp_path, tmp_path, lambda: backend,
                        lambda: sandbox, [])
    [outcome] = report.outcomes
    assert outcome.verdict == "verified" and outcome.sandbox == "docker", outcome.reasons
