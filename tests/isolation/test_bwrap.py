"""The real bubblewrap sandbox: what untrusted code inside it can and cannot do.

Every test here starts real bwrap processes. Jobs run as a dedicated uid of this
module (when the tests run as root), so a fork bomb here cannot eat the process
quota of sandbox uid 61000 that other test runs on this machine may be using.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codegen_hook.config import Settings
from codegen_hook.errors import SandboxUnavailableError
from codegen_hook.isolation import probe_sandbox, select_sandbox
from codegen_hook.isolation.base import RunResult, SandboxJob
from codegen_hook.isolation.bwrap import BwrapSandbox, readable_by
from codegen_hook.isolation.unsafe import UnsandboxedRunner
from tests.isolation.escape_kit import spy_on_mkdtemp

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

AS_ROOT = os.geteuid() == 0
DEFAULT_UID = 61000
TEST_UID = 61473  # this module's own sandbox uid (used only when running as root)
# What the sandbox sets, plus PWD, which bwrap's --chdir adds.
SANDBOX_ENV = {"PATH", "HOME", "LANG", "PYTHONDONTWRITEBYTECODE", "PWD"}

FORK_BOMB = (
    "import os\n"
    "while True:\n"
    "    try:\n"
    "        os.fork()\n"
    "    except OSError:\n"
    "        pass\n"
)


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    return BwrapSandbox(uid=TEST_UID)


def job(code: str, **kwargs: Any) -> SandboxJob:
    return SandboxJob(files={"main.py": code}, entry="main.py", **kwargs)


def job_dirs(prefix: str = "codegen-hook-job-") -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith(prefix)}


@pytest.fixture
def made_dirs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every folder tempfile.mkdtemp made during the test (the job folders)."""
    return spy_on_mkdtemp(monkeypatch)


# Without a sandbox uid (not root) no process cap applies (Limits.processes is None):
# a fork bomb would then only be stopped by the timeout, on the developer's session.
needs_process_cap = pytest.mark.skipif(
    not AS_ROOT, reason="no process cap without a dedicated sandbox uid (not root)")


def wait_for_ok(run: Callable[[], RunResult], tries: int = 40) -> RunResult:
    """Run until a job passes (or `tries` runs later): the quota a fork bomb held
    is given back when its processes are gone."""
    result = run()
    for _ in range(tries):
        if result.ok:
            break
        time.sleep(0.25)
        result = run()
    return result


# -- what works ---------------------------------------------------------------------


def test_hello_job_is_ok_with_stdout(sandbox: BwrapSandbox) -> None:
    result = sandbox.run(job("print('hello from the sandbox')\n"))
    assert result.verdict == "ok"
    assert result.ok
    assert result.exit_code == 0
    assert result.stdout == "hello from the sandbox\n"
    assert result.sandbox == "bwrap"
    assert not result.truncated


def test_probe_sandbox_passes(sandbox: BwrapSandbox) -> None:
    result = probe_sandbox(sandbox)
    assert result.ok
    assert "sandbox-ok" in result.stdout


def test_process_inside_is_not_root() -> None:
    sandbox = BwrapSandbox()  # the default uid, as the hook uses it
    result = sandbox.run(job("import os\nprint(os.getuid(), os.geteuid(), os.getgid())\n"))
    assert result.ok, result.stderr
    uid, euid, gid = (int(part) for part in result.stdout.split())
    assert uid != 0 and euid != 0 and gid != 0
    if AS_ROOT:
        assert sandbox.uid == DEFAULT_UID
        assert uid == DEFAULT_UID


def test_environment_holds_only_the_sandbox_variables(
        sandbox: BwrapSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEGEN_TEST_CANARY", "canary-value-7d1f")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-canary")
    result = sandbox.run(job("import os, json\nprint(json.dumps(dict(os.environ)))\n"))
    assert result.ok, result.stderr
    assert "CODEGEN_TEST_CANARY" not in result.stdout
    assert "canary-value-7d1f" not in result.stdout
    assert "sk-secret-canary" not in result.stdout
    inside = json.loads(result.stdout)
    assert set(inside) <= SANDBOX_ENV
    assert inside["PATH"] == "/usr/bin:/bin"
    assert inside["HOME"] == "/work"


def test_no_network_to_a_host_loopback_listener(sandbox: BwrapSandbox) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
        "    print('CONNECTED')\n"
        "except OSError as exc:\n"
        "    print('FAILED', type(exc).__name__)\n"
    )
    try:
        result = sandbox.run(job(code, timeout=8))
        assert result.ok, result.stderr
        assert "CONNECTED" not in result.stdout
        assert result.stdout.startswith("FAILED")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody ever knocked
    finally:
        listener.close()


def test_home_files_and_etc_shadow_are_not_readable(
        sandbox: BwrapSandbox, isolated_home: Path) -> None:
    secret = isolated_home / "secret.txt"
    secret.write_text("home-secret-5c2a\n")
    code = (
        f"for path in [{str(secret)!r}, '/etc/shadow']:\n"
        "    try:\n"
        "        print('READ', path, open(path).read())\n"
        "    except OSError as exc:\n"
        "        print('DENIED', path, type(exc).__name__)\n"
    )
    result = sandbox.run(job(code))
    assert result.ok, result.stderr
    assert "home-secret-5c2a" not in result.stdout
    assert "READ" not in result.stdout
    assert f"DENIED {secret}" in result.stdout
    assert "DENIED /etc/shadow" in result.stdout


def test_job_and_root_are_read_only_work_is_writable(sandbox: BwrapSandbox) -> None:
    code = (
        "for path in ['/job/new.txt', '/job/main.py', '/new.txt', '/work/new.txt']:\n"
        "    try:\n"
        "        with open(path, 'w') as out:\n"
        "            out.write('data')\n"
        "        print('WROTE', path, open(path).read())\n"
        "    except OSError as exc:\n"
        "        print('REFUSED', path, type(exc).__name__)\n"
    )
    result = sandbox.run(job(code))
    assert result.ok, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("REFUSED /job/new.txt")
    assert lines[1].startswith("REFUSED /job/main.py")
    assert lines[2].startswith("REFUSED /new.txt")
    assert lines[3] == "WROTE /work/new.txt data"


def readable_folder(tmp_path: Path) -> Path:
    """A folder the sandbox uid can read (tmp_path's parents are 0700 when root)."""
    base = Path(tempfile.mkdtemp(prefix="codegen-hook-bind-test-"))
    os.chmod(base, 0o755)
    (base / "pkg").mkdir()
    (base / "pkg" / "data.txt").write_text("bound\n")
    os.chmod(base / "pkg", 0o755)
    os.chmod(base / "pkg" / "data.txt", 0o644)
    return base


def test_binds_are_visible_read_only_at_their_path(sandbox: BwrapSandbox,
                                                   tmp_path: Path) -> None:
    folder = readable_folder(tmp_path)
    try:
        code = ("print(open('/env/pkg/data.txt').read().strip())\n"
                "try:\n    open('/env/pkg/new.txt', 'w')\n"
                "except OSError as exc:\n    print('REFUSED', type(exc).__name__)\n")
        result = sandbox.run(job(code, binds=((str(folder), "/env"),)))
        assert result.ok, result.stderr
        assert result.stdout.splitlines() == ["bound", "REFUSED OSError"]
        assert not (folder / "pkg" / "new.txt").exists()
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("inside", ["env", "/job/x", "/work", "/usr/lib/x", "/a/../etc", "/"])
def test_binds_over_the_sandbox_own_folders_are_refused(inside: str) -> None:
    with pytest.raises(ValueError, match="inside path"):
        job("pass\n", binds=(("/tmp", inside),))


# -- what fails, as data ------------------------------------------------------------


def test_infinite_loop_is_a_timeout(sandbox: BwrapSandbox) -> None:
    result = sandbox.run(job("while True:\n    pass\n", timeout=2))
    assert result.verdict == "timeout"
    assert not result.ok
    assert any("no result within 2 s" in note for note in result.notes)


def test_memory_bomb_is_a_memory_verdict(sandbox: BwrapSandbox) -> None:
    code = "hog = []\nwhile True:\n    hog.append(bytearray(8 << 20))\n"
    result = sandbox.run(job(code, memory_mb=128, timeout=10))
    assert result.verdict == "memory"
    assert "MemoryError" in result.stderr


def test_output_flood_is_killed_and_truncated(sandbox: BwrapSandbox) -> None:
    code = "import sys\nwhile True:\n    sys.stdout.write('x' * 1000)\n"
    result = sandbox.run(job(code, output_limit=10_000, timeout=10))
    assert result.verdict == "killed"
    assert result.truncated
    assert 0 < len(result.stdout) <= 10_000
    assert set(result.stdout) == {"x"}
    assert len(result.stderr) <= 10_000
    assert any("output passed 10000 bytes" in note for note in result.notes)


def test_non_zero_exit_is_an_error(sandbox: BwrapSandbox) -> None:
    result = sandbox.run(job("import sys\nprint('before')\nsys.exit(3)\n"))
    assert result.verdict == "error"
    assert result.exit_code == 3
    assert result.stdout == "before\n"


def test_uncaught_exception_is_an_error_with_traceback(sandbox: BwrapSandbox) -> None:
    result = sandbox.run(job("raise ValueError('boom')\n"))
    assert result.verdict == "error"
    assert "ValueError: boom" in result.stderr


@needs_process_cap
def test_fork_bomb_is_contained(sandbox: BwrapSandbox) -> None:
    result = sandbox.run(job(FORK_BOMB, timeout=2))
    assert result.verdict != "ok"
    # Once the bomb's processes are gone, the sandbox works as before.
    after = wait_for_ok(lambda: sandbox.run(job("print('still alive')\n")))
    assert after.ok, after.stderr
    assert after.stdout == "still alive\n"


@needs_process_cap
def test_job_started_right_after_a_fork_bomb_works(sandbox: BwrapSandbox) -> None:
    bomb = sandbox.run(job(FORK_BOMB, timeout=2))
    assert bomb.verdict != "ok"
    try:
        after = sandbox.run(job("print('next candidate')\n"))
        assert after.ok, after.stderr
        assert after.stdout == "next candidate\n"
    finally:
        # leave the uid's process quota free for the tests that follow
        wait_for_ok(lambda: sandbox.run(job("pass\n")))


# -- job files ----------------------------------------------------------------------


def test_nested_job_file_names_work(sandbox: BwrapSandbox) -> None:
    files = {
        "src/pkg/mod.py": "VALUE = 42\n",
        "src/pkg/deeper/run.py": (
            "import sys\n"
            "sys.path.insert(0, '/job/src')\n"
            "from pkg.mod import VALUE\n"
            "print(VALUE, open('/job/src/pkg/mod.py').read().strip())\n"
        ),
    }
    result = sandbox.run(SandboxJob(files=files, entry="src/pkg/deeper/run.py"))
    assert result.ok, result.stderr
    assert result.stdout == "42 VALUE = 42\n"


@pytest.mark.parametrize("name", ["../{tag}.py", "src/../../{tag}.py", "/tmp/{tag}.py",
                                  "a/b/../../../{tag}.py"])
def test_job_file_names_leaving_the_job_folder_are_refused(
        sandbox: BwrapSandbox, made_dirs: list[str], name: str) -> None:
    tag = f"codegen-escape-{uuid.uuid4().hex}"
    before = job_dirs()
    files = {"main.py": "print('hi')\n", name.format(tag=tag): "print('escaped')\n"}
    with pytest.raises(ValueError, match="leaves the job folder"):
        sandbox.run(SandboxJob(files=files, entry="main.py"))
    assert not (Path(tempfile.gettempdir()) / f"{tag}.py").exists()
    assert made_dirs and not any(os.path.exists(path) for path in made_dirs)
    assert job_dirs() - before == set()


def test_job_folder_is_removed_afterwards(sandbox: BwrapSandbox, made_dirs: list[str]) -> None:
    before = job_dirs()
    ok = sandbox.run(SandboxJob(files={"a/b.py": "print(1)\n"}, entry="a/b.py"))
    failed = sandbox.run(job("raise SystemExit(1)\n"))
    assert ok.ok and failed.verdict == "error"
    assert len(made_dirs) == 2
    assert all(Path(path).name.startswith("codegen-hook-job-") for path in made_dirs)
    assert not any(os.path.exists(path) for path in made_dirs)
    assert job_dirs() - before == set()


# -- who may read what --------------------------------------------------------------


def test_readable_by() -> None:
    folder = Path(tempfile.mkdtemp(prefix="codegen-test-readable-"))
    try:
        tool = folder / "tool.py"
        tool.write_text("x = 1\n")
        tool.chmod(0o644)
        folder.chmod(0o755)
        assert readable_by(tool, DEFAULT_UID) is True
        folder.chmod(0o700)
        assert readable_by(tool, DEFAULT_UID) is False
        tool.chmod(0o600)
        folder.chmod(0o755)
        assert readable_by(tool, DEFAULT_UID) is False
        assert readable_by(folder / "missing.py", DEFAULT_UID) is False
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert readable_by(Path("/usr/bin/python3"), DEFAULT_UID) is True


@pytest.mark.skipif(not AS_ROOT, reason="the sandbox drops to another uid only as root")
def test_python_the_sandbox_user_cannot_read_is_refused(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    python = private / "python3"
    shutil.copy("/usr/bin/python3", python)
    with pytest.raises(SandboxUnavailableError, match="sandbox_python"):
        BwrapSandbox(python=str(python))


# -- choosing a sandbox -------------------------------------------------------------


def test_unsandboxed_runner_runs_and_says_so(made_dirs: list[str]) -> None:
    runner = UnsandboxedRunner()
    before = job_dirs("codegen-hook-unsafe-")
    result = runner.run(job("print('no walls')\n"))
    assert result.ok
    assert result.stdout == "no walls\n"
    assert result.sandbox == "none (unsafe)"
    assert any("WITHOUT a sandbox" in note for note in result.notes)
    assert runner.isolated is False and runner.network is True
    assert made_dirs and not any(os.path.exists(path) for path in made_dirs)
    assert job_dirs("codegen-hook-unsafe-") - before == set()


def test_select_sandbox_is_unsafe_only_when_asked() -> None:
    assert isinstance(select_sandbox(Settings(unsafe_no_sandbox=True)), UnsandboxedRunner)
    chosen = select_sandbox(Settings(sandbox="bwrap"))
    assert isinstance(chosen, BwrapSandbox)
    assert not isinstance(chosen, UnsandboxedRunner)
    assert chosen.isolated and not chosen.network


def test_missing_bwrap_is_sandbox_unavailable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("bwrap") is None
    with pytest.raises(SandboxUnavailableError, match="apt-get install bubblewrap"):
        BwrapSandbox()
    # and the choice never falls back to running unsandboxed
    with pytest.raises(SandboxUnavailableError, match="apt-get install bubblewrap"):
        select_sandbox(Settings(sandbox="bwrap"))
