"""What the escape suites (test_escapes.py for bwrap, test_escapes_docker.py for docker)
share: the in-sandbox payload prelude, the host-side helpers and the payload bodies that
are the same for both sandboxes.

Every payload is a small bounded script that tries one thing and REPORTS what it got as
one JSON line; the prelude gives it ARGS from argv[1], `attempt` (a call turned into
"OK:<value>" or "FAILED:<errno name>") and `report` (prints the one JSON line).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob

MB = 1 << 20

# -- the in-sandbox prelude ------------------------------------------------------------

PRELUDE_CORE = '''\
ARGS = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
def err(exc):
    code = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and code:
        return errno.errorcode.get(code, str(code))
    return type(exc).__name__
def attempt(fn, *args):
    try:
        value = fn(*args)
    except Exception as exc:
        return "FAILED:" + err(exc)
    return "OK:" + repr(value)[:300]
def read(path):
    with open(path, "rb") as handle:
        return handle.read(4096).decode("utf-8", "replace")
def write(path, mode="w"):
    with open(path, mode) as handle:
        handle.write("escaped")
    return path
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
def raw(number, *args):
    ctypes.set_errno(0)
    result = _libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
    return [result, errno.errorcode.get(ctypes.get_errno(), "0")]
'''

# `libc_call("ptrace", ...)`: a libc function by name, as [result, errno name]
LIBC_CALL = '''\
def libc_call(name, *args):
    function = getattr(_libc, name)
    function.restype = ctypes.c_long
    ctypes.set_errno(0)
    result = function(*[ctypes.c_long(a) for a in args])
    return [result, errno.errorcode.get(ctypes.get_errno(), "0")]
'''

REPORT_FUNCTION = '''\
def report(**fields):
    print(json.dumps(fields), flush=True)
'''


def prelude(modules: str, *extras: str) -> str:
    """The prelude importing `modules` (the core needs ctypes, errno, json, os and sys),
    with the `extras` (e.g. LIBC_CALL) defined before `report`."""
    return f"import {modules}\n" + PRELUDE_CORE + "".join(extras) + REPORT_FUNCTION


class EscapeKit:
    """Payload jobs for one sandbox: its prelude and its default job timeout."""

    def __init__(self, prelude: str, timeout: float) -> None:
        self.prelude = prelude
        self.timeout = timeout

    def payload(self, body: str) -> str:
        return self.prelude + textwrap.dedent(body)

    def make_job(self, body: str, args: dict[str, Any] | None = None,
                 **kwargs: Any) -> SandboxJob:
        kwargs.setdefault("timeout", self.timeout)
        return SandboxJob(files={"escape.py": self.payload(body)}, entry="escape.py",
                          args=(json.dumps(args or {}),), **kwargs)

    def run(self, sandbox: Sandbox, body: str, args: dict[str, Any] | None = None,
            **kwargs: Any) -> tuple[RunResult, dict[str, Any]]:
        result = sandbox.run(self.make_job(body, args, **kwargs))
        assert result.verdict == "ok", (result.verdict, result.stderr[-2000:])
        return result, reported(result)


# -- host-side helpers -----------------------------------------------------------------


def reported(result: RunResult) -> dict[str, Any]:
    """The payload's JSON line (the last stdout line that is one)."""
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            data: dict[str, Any] = json.loads(line)
            return data
    raise AssertionError(f"no report: {result.verdict} {result.stdout[-500:]!r} "
                         f"{result.stderr[-1500:]!r}")


def failed(value: Any, *errnos: str) -> bool:
    return isinstance(value, str) and value.startswith("FAILED:") and (
        not errnos or value.split(":", 1)[1] in errnos)


def digest(path: Path) -> tuple[str, int, int]:
    info = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), info.st_size, info.st_mtime_ns


def canary() -> str:
    return f"CANARY-{uuid.uuid4().hex}"


def host_free_bytes(*also: str) -> int:
    """Free bytes on the temp folder's file system, or the least of it and of each of
    the `also` folders that exists."""
    return min([shutil.disk_usage(tempfile.gettempdir()).free,
                *(shutil.disk_usage(place).free for place in also if os.path.isdir(place))])


def live_host_processes() -> Iterator[tuple[str, str, str, list[int]]]:
    """(pid, name, state, [real, effective, saved, fs uid]) of each live (not zombie)
    host process."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            status = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        state = fields.get("State", "").split()
        if not state or state[0] in ("Z", "X"):
            continue
        ids = [int(part) for part in fields.get("Uid", "").split()]
        yield name, fields.get("Name", "").strip(), state[0], ids


def wait_for(check: Callable[[], Any], patience: float, interval: float = 0.1) -> Any:
    """`check()` until it is falsy or `patience` seconds passed; its last value."""
    deadline = time.monotonic() + patience
    while (value := check()) and time.monotonic() < deadline:
        time.sleep(interval)
    return value


def world_readable_dir() -> Iterator[Path]:
    """A world-readable (0755) folder straight under /tmp that the host owns (for a
    fixture: removed when the generator resumes)."""
    folder = Path(tempfile.mkdtemp(prefix="codegen-escape-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def spy_on_mkdtemp(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every folder tempfile.mkdtemp makes from now on (the job folders), as it makes it."""
    made: list[str] = []
    real = tempfile.mkdtemp

    def spy(*args: Any, **kwargs: Any) -> str:
        path: str = real(*args, **kwargs)
        made.append(path)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", spy)
    return made


def loopback_listener() -> socket.socket:
    """A non-blocking TCP listener on 127.0.0.1 at a free port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    return listener


def assert_nobody_knocked(listener: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        listener.accept()


# -- payload bodies (or their shared parts) ---------------------------------------------

# the start of the write probe: each sandbox adds its own scratch checks and the report
WRITE_ATTEMPTS = '''
results = {}
for path in ARGS["paths"]:
    results[path] = attempt(write, path, "a")
results["mkdir_usr"] = attempt(os.mkdir, ARGS["usr_dir"])
results["chmod_job"] = attempt(os.chmod, "/job/escape.py", 0o777)
results["host_r+"] = attempt(write, ARGS["host_file"], "r+")
'''

FORK_BOMB = '''
while True:
    try:
        os.fork()
    except OSError:
        pass
'''

MEMORY_BOMB_BODY = '''
hog = []
for _ in range(4096):  # 32 GiB at most, far past the limit
    hog.append(bytearray(8 << 20))
report(allocated=len(hog))
'''

# `fill(path, limit)`: [bytes written, errno name or "none"]; the body adds the report
FILL_FUNCTION = '''
def fill(path, limit):
    written, chunk = 0, b"x" * (1 << 20)
    try:
        with open(path, "wb", buffering=0) as out:
            while written < limit:
                written += out.write(chunk)
    except OSError as exc:
        return [written, err(exc)]
    return [written, "none"]
'''

SMALL_FILES_BODY = '''
made, error, block = 0, "none", b"y" * 4096
try:
    for made in range(50000):
        with open(f"/work/f{made}", "wb") as out:
            out.write(block)
except OSError as exc:
    error = err(exc)
report(made=made, error=error)
'''

STDOUT_FLOOD_BODY = '''
chunk = "x" * (1 << 20)
for _ in range(200):  # 200 MiB
    sys.stdout.write(chunk)
sys.stdout.flush()
report(flooded=True)
'''

# A double-forked, setsid'd daemon with its output on /dev/null: the grandchild sends its
# pid up a pipe, then runs what the sandbox's body puts between these two parts
DAEMON_START = '''
read_end, write_end = os.pipe()
child = os.fork()
if child == 0:
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    os.close(read_end)
    os.write(write_end, str(os.getpid()).encode())
    os.close(write_end)
    quiet = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
'''

DAEMON_REPORT = '''\
os.close(write_end)
os.waitpid(child, 0)
report(daemon=int(os.read(read_end, 32)), uid=os.getuid())
'''

FD_LEAK_BODY = '''
open_fds = []
for fd in range(3, 1024):
    try:
        os.fstat(fd)
    except OSError:
        continue
    open_fds.append([fd, attempt(os.readlink, f"/proc/self/fd/{fd}"),
                     attempt(os.pread, fd, 200, 0)])
listed = {}
for name in os.listdir("/proc/self/fd"):
    listed[name] = attempt(os.readlink, f"/proc/self/fd/{name}")
report(open_fds=open_fds, listed=listed)
'''

# `write_proc` and `open_for_write` for the /proc probes; the body adds the report
PROC_WRITERS = '''
def write_proc(path):
    with open(path, "w") as out:
        out.write("|/work/escape %p")
    return "written"
def open_for_write(path):
    os.close(os.open(path, os.O_WRONLY))
    return "opened"
'''


# -- shared test steps -----------------------------------------------------------------

def plant_secret(target: str, secret: str, home: Path, public_dir: Path) -> Path:
    """Write `secret` where the host keeps one (`target`: "home_ssh_key", "public_tmp"
    or "data_dir"): an ssh key in `home`, a world-readable file in `public_dir`, a token
    in the data folder."""
    if target == "home_ssh_key":
        path = home / ".ssh" / "id_rsa"
        path.parent.mkdir(mode=0o700)
        path.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{secret}\n")
    elif target == "public_tmp":
        # world-readable all the way down: only the sandbox's own view of the file
        # system keeps it out
        path = public_dir / "secret.txt"
        path.write_text(secret)
        path.chmod(0o644)
    elif target == "data_dir":
        data = Path(os.environ["CODEGEN_HOOK_DATA_DIR"])
        data.mkdir(parents=True, exist_ok=True)
        path = data / "token.txt"
        path.write_text(secret)
    else:
        raise ValueError(target)
    return path


def notable_entries(folder: Path) -> list[str]:
    """Names in `folder` long and particular enough to look for in a payload's output."""
    return [name for name in os.listdir(folder) if len(name) > 6 and name not in (
        ".bashrc", ".profile", ".cache", ".config", ".local")]


def shared_host_file(public_dir: Path) -> Path:
    """A host file anyone may write (0666, in a 0777 folder) with "original content"."""
    shared = public_dir / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    host_file = shared / "owned.txt"
    host_file.write_text("original content\n")
    host_file.chmod(0o666)
    return host_file


def run_holding_inheritable_fds(
        kit: EscapeKit, sandbox: Sandbox,
        tmp_path: Path) -> tuple[Path, str, RunResult, dict[str, Any]]:
    """FD_LEAK_BODY, run while the host holds a canary file open on two inheritable
    descriptors (as careless hosts leave): (the file, the canary, the run, its report)."""
    secret = canary()
    path = tmp_path / "fd-secret.txt"
    path.write_text(secret)
    fd = os.open(path, os.O_RDONLY)
    high = os.dup2(fd, 100, inheritable=True)  # an inheritable fd, as careless hosts leave
    os.set_inheritable(fd, True)
    try:
        result, report = kit.run(sandbox, FD_LEAK_BODY)
    finally:
        os.close(fd)
        os.close(high)
    return path, secret, result, report


def check_stdout_flood(kit: EscapeKit, sandbox: Sandbox, timeout: float) -> None:
    """200 MiB on stdout: the run is killed and what comes back is cut at the limit."""
    limit = 64 * 1024
    result = sandbox.run(kit.make_job(STDOUT_FLOOD_BODY, timeout=timeout, output_limit=limit))
    assert result.verdict == "killed"
    assert result.truncated
    assert 0 < len(result.stdout) + len(result.stderr) <= limit
    assert "flooded" not in result.stdout
