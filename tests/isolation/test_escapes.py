"""The escape suite: untrusted code that tries to get out of the bubblewrap sandbox.

Every payload is a small bounded script that tries one thing and REPORTS what it got
as one JSON line; every test ALSO checks the host on its own (a planted file is
unchanged, a listener accepted nothing, no process of the sandbox uids survives),
so a payload that lies or crashes cannot make a test pass.

The negative controls at the end run the same probes with the seccomp filter off
and with the unsandboxed runner: they prove the probes can see a hole.

Jobs run as this module's own sandbox uids (ESCAPE_UID + slot, when the tests run
as root), so a fork bomb here cannot eat the process quota of the default uids.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import stat
import subprocess
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.isolation.unsafe import UnsandboxedRunner
from tests.isolation.escape_kit import (
    DAEMON_REPORT, DAEMON_START, FILL_FUNCTION, FORK_BOMB, LIBC_CALL, MB,
    MEMORY_BOMB_BODY, PROC_WRITERS, SMALL_FILES_BODY, WRITE_ATTEMPTS,
    EscapeKit, assert_nobody_knocked, canary, check_stdout_flood, digest, failed,
    host_free_bytes, live_host_processes, loopback_listener, notable_entries, plant_secret,
    prelude, reported, run_holding_inheritable_fds, shared_host_file, spy_on_mkdtemp,
    wait_for, world_readable_dir)

AS_ROOT = os.geteuid() == 0
ESCAPE_UID = 62100  # this module's base sandbox uid; a run gets ESCAPE_UID + slot
UID_RANGE = range(ESCAPE_UID, ESCAPE_UID + 64)
X86_64 = platform.machine() == "x86_64"
SANDBOX_ENV = {"PATH", "HOME", "LANG", "PYTHONDONTWRITEBYTECODE", "PWD"}

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]
needs_root = pytest.mark.skipif(
    not AS_ROOT, reason="the sandbox runs as a dedicated uid (with a process cap) only as root")
needs_x86_64 = pytest.mark.skipif(not X86_64, reason="raw syscall numbers are x86_64's")

# Shared by every payload (escape_kit.prelude): ARGS from argv[1], `attempt` turns a
# call into "OK:<value>" or "FAILED:<errno name>", `report` prints the one JSON line.
PRELUDE = prelude("ctypes, errno, fcntl, json, os, socket, sys, time", LIBC_CALL)
KIT = EscapeKit(PRELUDE, timeout=5.0)
make_job, run = KIT.make_job, KIT.run


def live_processes(uids: range = UID_RANGE) -> list[str]:
    """Live (not zombie) host processes whose real/effective/saved/fs uid is in `uids`."""
    return [f"{pid} {name} {state}" for pid, name, state, ids in live_host_processes()
            if any(uid in uids for uid in ids)]


def wait_until_no_processes(patience: float = 5.0) -> list[str]:
    alive: list[str] = wait_for(live_processes, patience, interval=0.05)
    return alive


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    return BwrapSandbox(python="", uid=ESCAPE_UID, use_seccomp=True)


@pytest.fixture(scope="module")
def no_seccomp() -> BwrapSandbox:
    return BwrapSandbox(python="", uid=ESCAPE_UID, use_seccomp=False)


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A world-readable (0755) folder straight under /tmp that the host owns."""
    yield from world_readable_dir()


@pytest.fixture
def made_dirs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every folder tempfile.mkdtemp made during the test (the job folders)."""
    yield spy_on_mkdtemp(monkeypatch)


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """After every test, no process of this module's sandbox uids is alive."""
    yield
    if AS_ROOT:
        assert wait_until_no_processes() == []


def test_seccomp_filter_is_in_force(sandbox: BwrapSandbox) -> None:
    # Every "EPERM" below comes from this filter: without it the suite must fail.
    assert sandbox.seccomp
    if AS_ROOT:
        assert sandbox.uid == ESCAPE_UID


# -- reading host secrets -----------------------------------------------------------

READ_BODY = '''
results = {}
for path in ARGS["paths"]:
    for variant in (path, "/proc/1/root" + path, "/proc/self/root" + path,
                    "/proc/1/cwd/" + path.lstrip("/"), "/proc/self/cwd/../.." + path):
        if os.path.isdir(variant):
            results[variant] = attempt(os.listdir, variant)
        else:
            results[variant] = attempt(read, variant)
report(results=results)
'''


@pytest.mark.parametrize("target", ["shadow", "root_dir", "home_ssh_key", "public_tmp",
                                    "data_dir"])
def test_host_secrets_are_not_readable(
        sandbox: BwrapSandbox, isolated_home: Path, public_dir: Path, target: str) -> None:
    secret = canary()
    if target == "shadow":
        path = Path("/etc/shadow")
        host_lines = [line for line in path.read_text().splitlines() if line.strip()]
        needles = [line for line in host_lines if len(line) > 8]
    elif target == "root_dir":
        path = Path("/root")
        needles = notable_entries(path)
    else:
        path = plant_secret(target, secret, isolated_home, public_dir)
        needles = [secret]
    result, report = run(sandbox, READ_BODY, {"paths": [str(path)]})
    assert report["results"]
    assert all(failed(value) for value in report["results"].values()), report
    for needle in [secret, *needles]:
        assert needle not in result.stdout and needle not in result.stderr


# -- writing outside the scratch folders --------------------------------------------

WRITE_BODY = WRITE_ATTEMPTS + '''\
# re-creating the host folder inside only writes the sandbox's own /tmp
os.makedirs(os.path.dirname(ARGS["host_file"]), exist_ok=True)
results["host_shadow_copy"] = attempt(write, ARGS["host_file"], "w")
results["work"] = attempt(write, "/work/fine.txt", "w")
report(results=results)
'''


def test_writes_outside_scratch_fail_and_host_files_are_unchanged(
        sandbox: BwrapSandbox, public_dir: Path) -> None:
    tag = uuid.uuid4().hex
    host_file = shared_host_file(public_dir)
    passwd = Path("/etc/passwd")
    before = digest(host_file), digest(passwd), digest(Path(os.path.realpath(sandbox.python)))
    paths = ["/job/escape.py", f"/job/new-{tag}.txt", f"/usr/lib/escape-{tag}.txt",
             sandbox.python, f"/escape-{tag}.txt", "/etc/passwd", f"/etc/escape-{tag}",
             "/proc/1/root/job/escape.py"]
    result, report = run(sandbox, WRITE_BODY, {
        "paths": paths, "usr_dir": f"/usr/escape-{tag}", "host_file": str(host_file)})
    results = report["results"]
    for path in paths:
        assert failed(results[path], "EROFS", "EACCES", "ENOENT", "EPERM"), (path, results)
    assert failed(results["mkdir_usr"]) and failed(results["chmod_job"])
    assert failed(results["host_r+"], "ENOENT")
    assert results["work"].startswith("OK:")  # the scratch folder works: the probe is live
    after = digest(host_file), digest(passwd), digest(Path(os.path.realpath(sandbox.python)))
    assert after == before
    assert host_file.read_text() == "original content\n"
    assert not Path(f"/usr/lib/escape-{tag}.txt").exists()
    assert not Path(f"/usr/escape-{tag}").exists()
    assert not Path(f"/escape-{tag}.txt").exists()
    assert not Path(f"/etc/escape-{tag}").exists()


# -- network --------------------------------------------------------------------------

SOCKET_BODY = '''
family, kind, target = ARGS["family"], ARGS["kind"], ARGS["target"]
made = attempt(socket.socket, family, kind)
result = {"socket": made}
if made.startswith("OK:"):
    # only reached if the filter is gone; the network namespace has no route out,
    # so nothing leaves the host even then
    sock = socket.socket(family, kind)
    sock.settimeout(2)
    if target and kind == socket.SOCK_STREAM:
        result["connect"] = attempt(sock.connect, tuple(target))
    elif target:
        result["sendto"] = attempt(sock.sendto, b"\\0" * 12, tuple(target))
    sock.close()
report(**result)
'''


@pytest.mark.parametrize("family, kind, target", [
    (socket.AF_INET, socket.SOCK_STREAM, ["1.1.1.1", 53]),
    (socket.AF_INET, socket.SOCK_DGRAM, ["1.1.1.1", 53]),
    (socket.AF_INET6, socket.SOCK_STREAM, ["2606:4700:4700::1111", 53]),
    (socket.AF_INET6, socket.SOCK_DGRAM, ["2606:4700:4700::1111", 53]),
    (socket.AF_INET, socket.SOCK_RAW, None),
    (socket.AF_NETLINK, socket.SOCK_RAW, None),
    (socket.AF_PACKET, socket.SOCK_RAW, None),
], ids=["tcp4", "udp4", "tcp6", "udp6", "raw4", "netlink", "packet"])
def test_non_unix_sockets_are_refused(sandbox: BwrapSandbox, family: int, kind: int,
                                      target: list[Any] | None) -> None:
    result, report = run(sandbox, SOCKET_BODY,
                         {"family": int(family), "kind": int(kind), "target": target})
    assert report["socket"] == "FAILED:EPERM"
    assert "connect" not in report and "sendto" not in report


def test_dns_resolution_fails(sandbox: BwrapSandbox) -> None:
    body = '''
    report(addr=attempt(socket.getaddrinfo, "example.com", 443),
           resolv=attempt(read, "/etc/resolv.conf"), hosts=attempt(read, "/etc/hosts"))
    '''
    result, report = run(sandbox, body)
    assert failed(report["addr"]), report
    assert failed(report["resolv"], "ENOENT") and failed(report["hosts"], "ENOENT")


CONNECT_BODY = '''
def connect_inet():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(2)
    sock.connect(("127.0.0.1", ARGS["port"]))
    return "connected"
def connect_unix(address):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2)
    sock.connect(address)
    return "connected"
result = {}
if "port" in ARGS:
    result["inet"] = attempt(connect_inet)
if "path" in ARGS:
    result["unix"] = attempt(connect_unix, ARGS["path"])
    result["stat"] = attempt(os.stat, ARGS["path"])
if "abstract" in ARGS:
    result["abstract"] = attempt(connect_unix, "\\0" + ARGS["abstract"])
report(**result)
'''


def test_host_loopback_listener_is_unreachable(sandbox: BwrapSandbox) -> None:
    with loopback_listener() as listener:
        result, report = run(sandbox, CONNECT_BODY, {"port": listener.getsockname()[1]})
        assert report["inet"] == "FAILED:EPERM"
        assert_nobody_knocked(listener)


def test_host_unix_socket_is_not_visible(sandbox: BwrapSandbox, public_dir: Path) -> None:
    path = public_dir / "host.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        path.chmod(0o777)
        listener.listen(5)
        listener.setblocking(False)
        assert stat.S_ISSOCK(path.stat().st_mode)
        result, report = run(sandbox, CONNECT_BODY, {"path": str(path)})
        assert failed(report["unix"], "ENOENT") and failed(report["stat"], "ENOENT")
        assert_nobody_knocked(listener)


def test_host_abstract_unix_socket_is_unreachable(sandbox: BwrapSandbox) -> None:
    # abstract sockets have no file: only the network namespace keeps them apart
    name = f"codegen-escape-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind("\0" + name)
        listener.listen(5)
        listener.setblocking(False)
        result, report = run(sandbox, CONNECT_BODY, {"abstract": name})
        assert failed(report["abstract"], "ECONNREFUSED", "ENOENT"), report
        assert_nobody_knocked(listener)


# -- resource exhaustion --------------------------------------------------------------

@needs_root
def test_fork_bomb_is_contained(sandbox: BwrapSandbox) -> None:
    bomb = sandbox.run(make_job(FORK_BOMB, timeout=3))
    assert bomb.verdict != "ok"
    assert wait_until_no_processes() == []
    after = sandbox.run(make_job("report(alive=True, uid=os.getuid())\n"))
    for _ in range(20):  # the quota comes back once the bomb's processes are gone
        if after.ok:
            break
        time.sleep(0.25)
        after = sandbox.run(make_job("report(alive=True, uid=os.getuid())\n"))
    assert after.ok, after.stderr
    assert reported(after)["alive"] is True


def test_memory_bomb_is_stopped(sandbox: BwrapSandbox) -> None:
    result = sandbox.run(make_job(MEMORY_BOMB_BODY, timeout=5, memory_mb=128))
    assert result.verdict in ("memory", "killed"), (result.verdict, result.stderr[-500:])
    assert "allocated" not in result.stdout


def test_cpu_loop_is_a_timeout(sandbox: BwrapSandbox) -> None:
    result = sandbox.run(make_job("while True:\n    pass\n", timeout=2))
    assert result.verdict == "timeout"


def test_long_sleep_is_a_timeout(sandbox: BwrapSandbox) -> None:
    result = sandbox.run(make_job("time.sleep(10 ** 6)\nreport(woke=True)\n", timeout=1))
    assert result.verdict == "timeout"
    assert "woke" not in result.stdout


BIG_FILE_BODY = FILL_FUNCTION + '''\
report(work=fill("/work/big", 256 << 20), tmp=fill("/tmp/big", 256 << 20))
'''


def test_disk_fill_with_one_big_file_stops_in_the_scratch_tmpfs(sandbox: BwrapSandbox) -> None:
    free_before = host_free_bytes()
    result, report = run(sandbox, BIG_FILE_BODY, timeout=20, memory_mb=256)
    free_after = host_free_bytes()
    scratch = 64 * MB  # memory_mb // 4 for each tmpfs; RLIMIT_FSIZE is 64 MiB too
    for place in ("work", "tmp"):
        written, error = report[place]
        assert error in ("ENOSPC", "EFBIG"), report
        assert written <= scratch
    # 128 MiB went into the sandbox's RAM-backed tmpfs, none onto the host's disk
    assert free_before - free_after < 16 * MB


def test_disk_fill_with_many_small_files_stops(sandbox: BwrapSandbox) -> None:
    free_before = host_free_bytes()
    result, report = run(sandbox, SMALL_FILES_BODY, timeout=20, memory_mb=128)
    free_after = host_free_bytes()
    assert report["error"] == "ENOSPC", report
    assert report["made"] * 4096 <= 32 * MB  # the 32 MiB tmpfs filled, and no more
    assert free_before - free_after < 16 * MB


def test_stdout_flood_is_killed_and_truncated(sandbox: BwrapSandbox) -> None:
    check_stdout_flood(KIT, sandbox, timeout=10)


# -- processes that try to stay ------------------------------------------------------

DAEMON_BODY = DAEMON_START + '''\
    signal_module = __import__("signal")
    for sig in (signal_module.SIGHUP, signal_module.SIGTERM, signal_module.SIGINT):
        signal_module.signal(sig, signal_module.SIG_IGN)
    time.sleep(30)
    write("/work/daemon-marker")
    os._exit(0)
''' + DAEMON_REPORT


@needs_root
def test_double_forked_daemon_does_not_outlive_the_run(sandbox: BwrapSandbox) -> None:
    result, report = run(sandbox, DAEMON_BODY, timeout=5)
    assert report["daemon"] > 0
    assert report["uid"] in UID_RANGE
    assert live_processes() == []  # right after run() returned, not eventually


# -- what the sandbox inherits --------------------------------------------------------


def test_environment_does_not_leak(sandbox: BwrapSandbox,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"CANARY_SECRET": canary(), "AWS_SECRET_ACCESS_KEY": canary(),
               "OPENAI_API_KEY": "sk-" + canary(), "GITHUB_TOKEN": canary()}
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    body = '''
    report(env=dict(os.environ), self_env=attempt(read, "/proc/self/environ"),
           init_env=attempt(read, "/proc/1/environ"),
           parent_env=attempt(read, f"/proc/{os.getppid()}/environ"))
    '''
    result, report = run(sandbox, body)
    assert set(report["env"]) <= SANDBOX_ENV
    for key, value in secrets.items():
        assert key not in report["env"]
        assert value not in result.stdout and value not in result.stderr


def test_file_descriptors_do_not_leak(sandbox: BwrapSandbox, tmp_path: Path) -> None:
    path, secret, result, report = run_holding_inheritable_fds(KIT, sandbox, tmp_path)
    assert report["open_fds"] == []
    extra = set(report["listed"]) - {"0", "1", "2"}
    assert len(extra) <= 1  # the descriptor that read /proc/self/fd itself
    assert report["listed"]["0"] == "OK:'/dev/null'"
    for target in report["listed"].values():
        assert str(path) not in target and path.name not in target
    assert secret not in result.stdout and secret not in result.stderr


# -- kernel attack surface ------------------------------------------------------------

TRACE_BODY = '''
child = os.fork()
if child == 0:
    time.sleep(10)
    os._exit(0)
result = {"child": libc_call("ptrace", 16, child, 0, 0),  # PTRACE_ATTACH
          "newuser": libc_call("unshare", 0x10000000),
          "newnet": libc_call("unshare", 0x40000000),
          "newns": libc_call("unshare", 0x00020000)}
if ARGS.get("parent"):  # never without the filter: a successful attach stops bwrap
    result["parent"] = libc_call("ptrace", 16, os.getppid(), 0, 0)
os.kill(child, 9)
os.waitpid(child, 0)
if ARGS.get("x86_64"):
    result.update(io_uring_setup=raw(425, 1, 0), keyctl=raw(250, 9999, 0, 0, 0, 0),
                  bpf=raw(321, 9999, 0, 0), perf_event_open=raw(298, 0, 0, -1, -1, 0),
                  userfaultfd=raw(323, 0), mount=raw(165, 0, 0, 0, 0, 0),
                  setns=raw(308, -1, 0), process_vm_readv=raw(310, 1, 0, 0, 0, 0, 0))
report(**result)
'''


def test_tracing_namespaces_and_kernel_interfaces_are_refused(sandbox: BwrapSandbox) -> None:
    result, report = run(sandbox, TRACE_BODY, {"x86_64": X86_64, "parent": True})
    assert report.pop("parent") == [-1, "EPERM"]
    assert report.pop("child") == [-1, "EPERM"]
    if X86_64:
        assert {"io_uring_setup", "keyctl", "bpf"} <= set(report)
    for name, outcome in report.items():
        assert outcome == [-1, "EPERM"], (name, outcome)


def test_proc_tricks_fail(sandbox: BwrapSandbox, tmp_path: Path, isolated_home: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    secret = canary()
    monkeypatch.setenv("CANARY_SECRET", secret)
    core_pattern = Path("/proc/sys/kernel/core_pattern")
    core_before = core_pattern.read_bytes()
    host_init = Path("/proc/1/cmdline").read_bytes().split(b"\0")[0].decode()
    body = PROC_WRITERS + textwrap.dedent('''\
    report(core_pattern=attempt(write_proc, "/proc/sys/kernel/core_pattern"),
           sysrq=attempt(open_for_write, "/proc/sysrq-trigger"),
           init_cmdline=read("/proc/1/cmdline").split("\\0")[0],
           init_env=attempt(read, "/proc/1/environ"),
           init_root=attempt(os.readlink, "/proc/1/root"),
           init_root_list=attempt(os.listdir, "/proc/1/root"),
           pids=sorted(int(name) for name in os.listdir("/proc") if name.isdigit()),
           mountinfo=read("/proc/self/mountinfo"))
    ''')
    result, report = run(sandbox, body)
    assert failed(report["core_pattern"]) and failed(report["sysrq"])
    assert core_pattern.read_bytes() == core_before
    # pid 1 inside is the sandbox's own bwrap init, not the host's
    assert os.path.basename(report["init_cmdline"]) == "bwrap"
    assert report["init_cmdline"] != host_init
    assert report["init_root"] == "OK:'/'"
    assert "'etc'" not in report["init_root_list"] and "'root'" not in report["init_root_list"]
    assert len(report["pids"]) < 10
    assert secret not in result.stdout
    mounts = [line.split()[3:5] for line in report["mountinfo"].splitlines()]
    assert mounts
    for root, point in mounts:
        for host_path in ("/root", str(tmp_path), str(isolated_home),
                          os.environ["CODEGEN_HOOK_DATA_DIR"], "/home", "/etc"):
            assert not root.startswith(host_path), (root, point)
            assert not point.startswith(host_path), (root, point)


def test_terminal_injection_is_refused(sandbox: BwrapSandbox) -> None:
    body = '''
    def inject(fd):
        fcntl.ioctl(fd, 0x5412, b"x")  # TIOCSTI
        return "injected"
    def via_tty():
        fd = os.open("/dev/tty", os.O_RDWR)
        try:
            return inject(fd)
        finally:
            os.close(fd)
    report(stdin=attempt(inject, 0), stdout=attempt(inject, 1), tty=attempt(via_tty))
    '''
    result, report = run(sandbox, body)
    assert report["stdin"] == "FAILED:EPERM" and report["stdout"] == "FAILED:EPERM"
    assert failed(report["tty"], "EPERM", "ENXIO"), report


def test_symlinks_to_host_secrets_stay_inside(sandbox: BwrapSandbox,
                                              made_dirs: list[str]) -> None:
    body = '''
    result = {"work": attempt(os.symlink, "/etc/shadow", "/work/shadow"),
              "tmp": attempt(os.symlink, "/etc/shadow", "/tmp/shadow"),
              "job": attempt(os.symlink, "/etc/shadow", "/job/shadow")}
    result["follow"] = attempt(read, "/work/shadow")
    report(**result)
    '''
    shadow_line = Path("/etc/shadow").read_text().splitlines()[0]
    result, report = run(sandbox, body)
    assert report["work"] == "OK:None" and report["tmp"] == "OK:None"
    assert failed(report["job"], "EROFS", "EACCES")
    assert failed(report["follow"], "ENOENT")
    assert shadow_line not in result.stdout
    assert made_dirs and not any(os.path.exists(path) for path in made_dirs)
    top = Path(tempfile.gettempdir())
    for entry in [*top.iterdir(), *(path for d in made_dirs for path in Path(d).glob("*"))]:
        if entry.is_symlink():
            assert os.readlink(entry) != "/etc/shadow", entry


# -- negative controls: the probes do see a hole ---------------------------------------


def test_control_without_seccomp_inet_sockets_and_kernel_calls_work(
        no_seccomp: BwrapSandbox) -> None:
    assert no_seccomp.seccomp is None
    _, sock = run(no_seccomp, SOCKET_BODY, {"family": int(socket.AF_INET),
                                            "kind": int(socket.SOCK_STREAM), "target": None})
    assert sock["socket"].startswith("OK:")  # EPERM with the filter
    _, calls = run(no_seccomp, TRACE_BODY, {"x86_64": X86_64})
    assert calls["child"] != [-1, "EPERM"]  # attaching to one's own child works
    assert calls["newuser"] != [-1, "EPERM"]  # ENOSPC: bwrap --disable-userns
    if X86_64:
        for name in ("io_uring_setup", "keyctl", "bpf"):
            assert calls[name] != [-1, "EPERM"], (name, calls[name])
    tty = '''
    report(stdin=attempt(fcntl.ioctl, 0, 0x5412, b"x"))
    '''
    _, ioctl = run(no_seccomp, tty)
    assert ioctl["stdin"] != "FAILED:EPERM"


def test_control_without_seccomp_the_network_namespace_still_holds(
        no_seccomp: BwrapSandbox) -> None:
    with loopback_listener() as listener:
        _, report = run(no_seccomp, CONNECT_BODY, {"port": listener.getsockname()[1]})
        assert failed(report["inet"], "ECONNREFUSED"), report  # its own loopback
        assert_nobody_knocked(listener)


def test_control_unsandboxed_runner_reads_the_planted_canaries(
        public_dir: Path, isolated_home: Path) -> None:
    secret = canary()
    public = public_dir / "secret.txt"
    public.write_text(secret)
    public.chmod(0o644)
    key = isolated_home / ".ssh" / "id_rsa"
    key.parent.mkdir(mode=0o700)
    key.write_text(secret + "-key")
    body = '''
    report(public=attempt(read, ARGS["public"]), key=attempt(read, ARGS["key"]),
           inet=attempt(socket.socket, socket.AF_INET, socket.SOCK_STREAM))
    '''
    result, report = run(UnsandboxedRunner(), body, {"public": str(public), "key": str(key)})
    assert report["public"] == f"OK:{secret!r}"
    assert secret in result.stdout
    assert report["inet"].startswith("OK:")
    if AS_ROOT:
        assert report["key"] == f"OK:{secret + '-key'!r}"


def test_control_live_processes_sees_a_sandbox_uid_process() -> None:
    """The process check is real: a process of a sandbox uid is found while it lives."""
    if not AS_ROOT:
        pytest.skip("starting a process as another uid needs root")
    proc = subprocess.Popen(["sleep", "30"], user=ESCAPE_UID + 63, group=ESCAPE_UID + 63,
                            extra_groups=[])
    try:
        assert any(line.startswith(f"{proc.pid} ") for line in live_processes())
    finally:
        proc.kill()
        proc.wait()
    assert wait_until_no_processes() == []
