"""The escape suite against the DOCKER sandbox: untrusted code that tries to get out.

The same payload style as test_escapes.py: every payload is a small bounded script that
tries one thing and REPORTS what it got as one JSON line, and every test ALSO checks the
host on its own (a planted file is unchanged, a listener accepted nothing, the run's
container is gone and no process of it survives), so a payload that lies or crashes
cannot make a test pass.

Where the sandbox differs from bwrap: the job runs as uid 60999 in a container with no
network, a read-only root from the image, tmpfs scratch at /work and /tmp, every
capability dropped, no-new-privileges and Docker's default seccomp profile.

The negative controls at the end run the same probes in containers started straight
through the docker SDK with one protection taken away (host network, a host folder
mounted), and plant a container and a process for the leftover checks to find: they prove
the probes can see a hole.

Skipped where no Docker engine answers; where one answers, a missing image is a failure
under CI and a skip elsewhere (as in test_docker.py).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import stat
import subprocess
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen_hook.isolation.base import SandboxJob
from codegen_hook.isolation.docker import DEFAULT_IMAGE, DockerSandbox
from tests.isolation.escape_kit import (
    DAEMON_REPORT, DAEMON_START, FILL_FUNCTION, FORK_BOMB, MB,
    MEMORY_BOMB_BODY, PROC_WRITERS, SMALL_FILES_BODY, WRITE_ATTEMPTS,
    EscapeKit, assert_nobody_knocked, canary, check_stdout_flood, digest, failed,
    host_free_bytes, live_host_processes, loopback_listener, notable_entries, plant_secret,
    prelude, reported, run_holding_inheritable_fds, shared_host_file, spy_on_mkdtemp,
    wait_for, world_readable_dir)

CONTAINER_UID = 60999  # DockerSandbox's uid, the same number on the host (no userns remap)
X86_64 = platform.machine() == "x86_64"
CONTAINER_ENV = {"PATH", "HOME", "LANG", "HOSTNAME"}
# Files Docker itself bind-mounts into every container from its own per-container folder
DOCKER_MANAGED = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}
DOCKER_DATA = "/var/lib/docker"  # where the engine keeps images and containers

needs_x86_64 = pytest.mark.skipif(not X86_64, reason="raw syscall numbers are x86_64's")

# Shared by every payload (as in test_escapes.py; escape_kit.prelude): ARGS from argv[1],
# `attempt` turns a call into "OK:<value>" or "FAILED:<errno name>", `report` prints the
# one JSON line.
PRELUDE = prelude("ctypes, errno, json, os, signal, socket, subprocess, sys, time")
KIT = EscapeKit(PRELUDE, timeout=10.0)
payload, make_job, run = KIT.payload, KIT.make_job, KIT.run


def container_ids(client: Any, **filters: str) -> set[str]:
    return {c.id for c in client.containers.list(all=True, filters=filters)}


def host_processes(cids: Iterable[str] = (), uid: int | None = None) -> list[str]:
    """Live (not zombie) host processes in one of these containers' cgroups, or with
    `uid` as their real/effective/saved/fs uid."""
    found, cids = [], tuple(cids)
    for pid, name, state, ids in live_host_processes():
        try:
            cgroup = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        if any(cid in cgroup for cid in cids) or (uid is not None and uid in ids):
            found.append(f"{pid} {name} {state} {ids}")
    return found


@pytest.fixture(scope="module")
def sandbox(docker_sandbox: DockerSandbox) -> DockerSandbox:
    return docker_sandbox


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A world-readable (0755) folder straight under /tmp that the host owns."""
    yield from world_readable_dir()


@pytest.fixture(autouse=True)
def created(sandbox: DockerSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The ids of the containers this test's runs created. After the test none of them
    exists any more and no host process lives in their cgroups."""
    ids: list[str] = []
    real = sandbox._create

    def spy(job: SandboxJob, job_dir: str) -> Any:
        container = real(job, job_dir)
        ids.append(container.id)
        return container

    monkeypatch.setattr(sandbox, "_create", spy)
    yield ids
    assert not set(ids) & container_ids(sandbox.client)
    assert host_processes(set(ids)) == []


@pytest.fixture
def job_dirs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every folder tempfile.mkdtemp made during the test (the job folders)."""
    return spy_on_mkdtemp(monkeypatch)


def test_the_container_is_created_hardened(sandbox: DockerSandbox, tmp_path: Path) -> None:
    """What every run below gets, read back from the engine (created, never started)."""
    job = SandboxJob(files={"m.py": "pass\n"}, entry="m.py", timeout=7, memory_mb=256)
    container = sandbox._create(job, str(tmp_path))
    try:
        config = sandbox.client.api.inspect_container(container.id)
    finally:
        container.remove(force=True)
    host = config["HostConfig"]
    assert config["Config"]["User"] == f"{CONTAINER_UID}:{CONTAINER_UID}"
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
    assert host["Privileged"] is False and host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["SecurityOpt"][0] == "no-new-privileges"
    assert host["SecurityOpt"][1].startswith("seccomp={")  # our profile, never unconfined
    assert "unconfined" not in host["SecurityOpt"][1]
    assert host["Binds"] == [f"{tmp_path}:/job:ro"] and not host.get("Mounts")
    assert set(host["Tmpfs"]) == {"/work", "/tmp"}
    assert host["PidsLimit"] == 64 and host["Memory"] == host["MemorySwap"] == 256 * MB
    assert not host.get("Devices") and host["PidMode"] == "" and host["IpcMode"] != "host"


# -- reading host secrets -----------------------------------------------------------

READ_BODY = '''
results = {}
for path in ARGS["paths"]:
    for variant in (path, "/proc/1/root" + path, "/proc/self/root" + path,
                    "/proc/self/cwd/../.." + path):
        if os.path.isdir(variant):
            results[variant] = attempt(os.listdir, variant)
        else:
            results[variant] = attempt(read, variant)
report(results=results, uid=os.getuid())
'''


@pytest.mark.parametrize("target", ["shadow", "root_dir", "home_ssh_key", "public_tmp",
                                    "data_dir"])
def test_secrets_are_not_readable(sandbox: DockerSandbox, isolated_home: Path,
                                  public_dir: Path, target: str) -> None:
    secret = canary()
    errno_expected = ("ENOENT",)  # host files: nothing of the host is mounted at all
    if target == "shadow":
        # the image has its own /etc/shadow (root:shadow 0640): uid 60999 cannot read it
        path = Path("/etc/shadow")
        needles = [line for line in path.read_text().splitlines() if len(line) > 8]
        errno_expected = ("EACCES",)
    elif target == "root_dir":
        path = Path("/root")
        needles = notable_entries(path)
        errno_expected = ("EACCES",)  # the image's /root is 0700
    else:
        path = plant_secret(target, secret, isolated_home, public_dir)
        needles = []
    result, report = run(sandbox, READ_BODY, {"paths": [str(path)]})
    assert report["uid"] == CONTAINER_UID
    assert len(report["results"]) == 4
    for variant, value in report["results"].items():
        assert failed(value, *errno_expected), (variant, value)
    for needle in [secret, *needles]:
        assert needle not in result.stdout and needle not in result.stderr


def test_only_the_job_folder_of_the_host_is_mounted(sandbox: DockerSandbox,
                                                    created: list[str],
                                                    job_dirs: list[str]) -> None:
    """Every mount backed by a host file system is /job (this run's job folder) or one of
    the three files Docker keeps per container under its own data folder."""
    body = '''
    mounts = []
    for line in read("/proc/self/mountinfo").splitlines():
        head, _, tail = line.partition(" - ")
        fields = head.split()
        mounts.append([fields[2], fields[3], fields[4], fields[5], tail.split()[0]])
    report(mounts=mounts)
    '''
    root_dir = sandbox.client.info()["DockerRootDir"]
    devices = set()
    for place in ("/", tempfile.gettempdir(), os.environ["HOME"], "/root", root_dir,
                  os.environ["CODEGEN_HOOK_DATA_DIR"].rsplit("/", 1)[0]):
        dev = os.stat(place).st_dev
        devices.add(f"{os.major(dev)}:{os.minor(dev)}")
    result, report = run(sandbox, body)
    [cid] = created
    [job_dir] = [d for d in job_dirs if "codegen-hook-job-" in d]
    from_host = {point: (root, options) for device, root, point, options, _ in
                 report["mounts"] if device in devices}
    assert set(from_host) <= {"/job", *DOCKER_MANAGED}, from_host
    root, options = from_host["/job"]
    assert os.path.basename(root) == os.path.basename(job_dir)
    assert options.split(",")[0] == "ro"
    for point in set(from_host) & DOCKER_MANAGED:
        assert from_host[point][0] == f"{root_dir}/containers/{cid}/{point[5:]}", from_host
    points = [mount[2] for mount in report["mounts"]]
    for host_path in ("/root", "/home", os.environ["HOME"],
                      os.environ["CODEGEN_HOOK_DATA_DIR"], "/var/run/docker.sock",
                      "/run/docker.sock"):
        assert host_path not in points


# -- writing outside the scratch folders --------------------------------------------

WRITE_BODY = WRITE_ATTEMPTS + '''\
results["work"] = attempt(write, "/work/fine.txt", "w")
results["tmp"] = attempt(write, "/tmp/fine.txt", "w")
report(results=results)
'''


def test_writes_outside_scratch_fail_and_host_files_are_unchanged(
        sandbox: DockerSandbox, public_dir: Path) -> None:
    tag = uuid.uuid4().hex
    host_file = shared_host_file(public_dir)
    watched = [host_file, Path("/etc/passwd"), Path("/etc/hosts")]
    before = [digest(path) for path in watched]
    paths = ["/job/escape.py", f"/job/new-{tag}.txt", f"/escape-{tag}.txt",
             f"/usr/lib/escape-{tag}.txt", "/usr/bin/python3", "/etc/passwd",
             f"/etc/escape-{tag}", "/etc/hosts", "/etc/resolv.conf",
             "/proc/1/root/job/escape.py"]
    result, report = run(sandbox, WRITE_BODY, {
        "paths": paths, "usr_dir": f"/usr/escape-{tag}", "host_file": str(host_file)})
    results = report["results"]
    for path in paths:
        # EROFS: the read-only root and /job; EACCES: Docker's own rw files, root's
        assert failed(results[path], "EROFS", "EACCES"), (path, results)
    assert failed(results["mkdir_usr"], "EROFS", "EACCES")
    assert failed(results["chmod_job"], "EROFS")  # the file is the job uid's own
    assert failed(results["host_r+"], "ENOENT")  # the host's file is not there at all
    # the scratch folders work: the probe is live
    assert results["work"].startswith("OK:") and results["tmp"].startswith("OK:")
    assert [digest(path) for path in watched] == before
    assert host_file.read_text() == "original content\n"
    for leftover in (f"/usr/lib/escape-{tag}.txt", f"/usr/escape-{tag}",
                     f"/escape-{tag}.txt", f"/etc/escape-{tag}"):
        assert not Path(leftover).exists()


def test_symlinks_to_secrets_stay_inside(sandbox: DockerSandbox, job_dirs: list[str]) -> None:
    body = '''
    result = {"work": attempt(os.symlink, "/etc/shadow", "/work/shadow"),
              "job": attempt(os.symlink, "/etc/shadow", "/job/shadow")}
    result["follow"] = attempt(read, "/work/shadow")
    report(**result)
    '''
    host_shadow = Path("/etc/shadow").read_text().splitlines()[0]
    result, report = run(sandbox, body)
    assert report["work"] == "OK:None"
    assert failed(report["job"], "EROFS")
    assert failed(report["follow"], "EACCES")  # the image's shadow, still unreadable
    assert host_shadow not in result.stdout
    assert job_dirs and not any(os.path.exists(path) for path in job_dirs)


# -- network --------------------------------------------------------------------------

NETWORK_BODY = '''
def connect(family, address):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        sock.connect(address)
    finally:
        sock.close()
    return "connected"
def send(family, address):
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        return sock.sendto(b"\\0" * 12, address)
    finally:
        sock.close()
def interfaces():
    return [line.split(":")[0].strip() for line in read("/proc/net/dev").splitlines()[2:]]
report(tcp4=attempt(connect, socket.AF_INET, ("1.1.1.1", 53)),
       udp4=attempt(send, socket.AF_INET, ("1.1.1.1", 53)),
       tcp6=attempt(connect, socket.AF_INET6, ("2606:4700:4700::1111", 53)),
       udp6=attempt(send, socket.AF_INET6, ("2606:4700:4700::1111", 53)),
       bridge=attempt(connect, socket.AF_INET, ("172.17.0.1", ARGS["port"])),
       raw4=attempt(socket.socket, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
       packet=attempt(socket.socket, socket.AF_PACKET, socket.SOCK_RAW),
       dns=attempt(socket.getaddrinfo, "example.com", 443),
       interfaces=interfaces())
'''


def test_outbound_network_fails(sandbox: DockerSandbox,
                                record_property: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("0.0.0.0", 0))  # even a listener on every host address
        listener.listen(5)
        listener.setblocking(False)
        result, report = run(sandbox, NETWORK_BODY, {"port": listener.getsockname()[1]})
        assert_nobody_knocked(listener)
    assert report.pop("interfaces") == ["lo"]  # network_mode none: loopback only
    for name in ("tcp4", "udp4", "tcp6", "udp6", "bridge"):
        assert failed(report[name]), (name, report)
        record_property(name, report[name])
    # no capabilities: no raw or packet sockets
    assert failed(report["raw4"], "EPERM") and failed(report["packet"], "EPERM")
    assert failed(report["dns"]), report


CONNECT_BODY = '''
def connect_inet():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(2)
    sock.connect(("127.0.0.1", ARGS["port"]))
    sock.sendall(b"knock")
    sock.close()
    return "connected"
def connect_unix(address):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2)
    sock.connect(address)
    sock.close()
    return "connected"
result = {}
if "port" in ARGS:
    result["inet"] = attempt(connect_inet)
for path in ARGS.get("paths", []):
    result[path] = attempt(connect_unix, path)
if "abstract" in ARGS:
    result["abstract"] = attempt(connect_unix, "\\0" + ARGS["abstract"])
report(**result)
'''


def test_host_loopback_listener_is_unreachable(sandbox: DockerSandbox) -> None:
    with loopback_listener() as listener:
        result, report = run(sandbox, CONNECT_BODY, {"port": listener.getsockname()[1]})
        # EPERM: our seccomp profile refuses AF_INET sockets outright
        assert failed(report["inet"], "EPERM", "ECONNREFUSED"), report
        assert_nobody_knocked(listener)


def test_host_unix_sockets_are_not_reachable(sandbox: DockerSandbox, public_dir: Path) -> None:
    path = public_dir / "host.sock"
    name = f"codegen-escape-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener, \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as abstract:
        listener.bind(str(path))
        path.chmod(0o777)
        listener.listen(5)
        listener.setblocking(False)
        abstract.bind("\0" + name)  # no file: only the network namespace keeps it apart
        abstract.listen(5)
        abstract.setblocking(False)
        assert stat.S_ISSOCK(path.stat().st_mode)
        engine = ["/var/run/docker.sock", "/run/containerd/containerd.sock"]
        result, report = run(sandbox, CONNECT_BODY,
                             {"paths": [str(path), *engine], "abstract": name})
        for socket_path in (str(path), *engine):
            assert failed(report[socket_path], "ENOENT"), (socket_path, report)
        assert failed(report["abstract"], "ECONNREFUSED"), report
        for sock in (listener, abstract):
            assert_nobody_knocked(sock)


# -- resource exhaustion --------------------------------------------------------------

COUNTED_FORKS = '''
made, error = 0, "none"
while made < 1000:
    try:
        child = os.fork()
    except OSError as exc:
        error = err(exc)
        break
    if child == 0:
        time.sleep(30)
        os._exit(0)
    made += 1
report(made=made, error=error)
'''  # pid 1 exits with its children asleep: the kernel kills them with the namespace


def test_fork_bomb_is_contained_by_the_pids_limit(sandbox: DockerSandbox,
                                                  created: list[str]) -> None:
    result, report = run(sandbox, COUNTED_FORKS, timeout=10)
    assert report["error"] == "EAGAIN" and 0 < report["made"] < 64, report  # pids_limit 64
    bomb = sandbox.run(make_job(FORK_BOMB, timeout=3))
    assert bomb.verdict != "ok"
    assert bomb.seconds < 3 + 15  # killed at the deadline, not left to run
    assert host_processes(set(created)) == []  # right after run() returned
    after = sandbox.run(make_job("report(alive=True, uid=os.getuid())\n"))
    assert after.ok, after.stderr
    assert reported(after) == {"alive": True, "uid": CONTAINER_UID}


def test_memory_bomb_is_stopped(sandbox: DockerSandbox) -> None:
    result = sandbox.run(make_job(MEMORY_BOMB_BODY, timeout=10, memory_mb=128))
    assert result.verdict == "memory", (result.verdict, result.stderr[-500:])
    assert "allocated" not in result.stdout


def test_cpu_loop_is_a_timeout(sandbox: DockerSandbox) -> None:
    result = sandbox.run(make_job("while True:\n    pass\n", timeout=2))
    assert result.verdict == "timeout"
    assert result.seconds < 2 + 10


def test_long_sleep_is_a_timeout(sandbox: DockerSandbox) -> None:
    result = sandbox.run(make_job("time.sleep(10 ** 6)\nreport(woke=True)\n", timeout=1))
    assert result.verdict == "timeout"
    assert "woke" not in result.stdout
    assert result.seconds < 1 + 10


BIG_FILE_BODY = FILL_FUNCTION + '''\
results = {}
for place in ("/work", "/tmp", "/dev/shm"):
    results[place] = fill(place + "/big", 256 << 20)
    os.unlink(place + "/big")
report(**results)
'''


def test_disk_fill_with_one_big_file_stops(sandbox: DockerSandbox) -> None:
    free_before = host_free_bytes(DOCKER_DATA)
    result, report = run(sandbox, BIG_FILE_BODY, timeout=30, memory_mb=384)
    free_after = host_free_bytes(DOCKER_DATA)
    for place in ("/work", "/tmp", "/dev/shm"):
        written, error = report[place]
        # RLIMIT_FSIZE (64 MiB) under the 96 MiB scratch tmpfs; Docker's 64 MiB /dev/shm
        assert error in ("ENOSPC", "EFBIG"), report
        assert 0 < written <= 64 * MB, report
    # 192 MiB went into RAM-backed tmpfs, none onto the host's disk
    assert free_before - free_after < 16 * MB


def test_disk_fill_with_many_small_files_stops(sandbox: DockerSandbox) -> None:
    free_before = host_free_bytes(DOCKER_DATA)
    result, report = run(sandbox, SMALL_FILES_BODY, timeout=30, memory_mb=128)
    free_after = host_free_bytes(DOCKER_DATA)
    assert report["error"] == "ENOSPC", report
    assert 0 < report["made"] * 4096 <= 32 * MB  # the 32 MiB tmpfs filled, and no more
    assert free_before - free_after < 16 * MB


def test_stdout_flood_is_killed_and_truncated(sandbox: DockerSandbox) -> None:
    check_stdout_flood(KIT, sandbox, timeout=20)


# -- processes that try to stay ------------------------------------------------------

DAEMON_BODY = DAEMON_START + '''\
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    time.sleep(30)
    os._exit(0)
''' + DAEMON_REPORT


def test_double_forked_daemon_does_not_outlive_the_run(sandbox: DockerSandbox,
                                                       created: list[str]) -> None:
    client = sandbox.client
    before = container_ids(client)
    result, report = run(sandbox, DAEMON_BODY, timeout=10)
    after = container_ids(client)  # right after run() returned, not eventually
    assert report["daemon"] > 1 and report["uid"] == CONTAINER_UID
    [cid] = created
    assert cid not in after and after - before == set()
    assert host_processes({cid}) == []
    # `docker ps -a` for the sandbox image: nothing (patience only for other sessions'
    # runs that may be in flight on the same engine)
    assert wait_for(lambda: container_ids(client, ancestor=DEFAULT_IMAGE), 20) == set()
    assert wait_for(lambda: host_processes(uid=CONTAINER_UID), 20) == []


# -- what the sandbox inherits --------------------------------------------------------


def test_environment_does_not_leak(sandbox: DockerSandbox,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"CANARY_SECRET": canary(), "AWS_SECRET_ACCESS_KEY": canary(),
               "OPENAI_API_KEY": "sk-" + canary(), "DOCKER_HOST_CANARY": canary()}
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    body = '''
    report(env=dict(os.environ), self_env=attempt(read, "/proc/self/environ"),
           init_env=attempt(read, "/proc/1/environ"))
    '''
    result, report = run(sandbox, body)
    assert set(report["env"]) <= CONTAINER_ENV, report["env"]
    assert report["env"]["HOME"] == "/work"
    for key, value in secrets.items():
        assert key not in report["env"]
        assert value not in result.stdout and value not in result.stderr


def test_file_descriptors_do_not_leak(sandbox: DockerSandbox, tmp_path: Path) -> None:
    path, secret, result, report = run_holding_inheritable_fds(KIT, sandbox, tmp_path)
    assert report["open_fds"] == []
    extra = set(report["listed"]) - {"0", "1", "2"}
    assert len(extra) == 1  # the descriptor that read /proc/self/fd itself
    listing = report["listed"][extra.pop()]  # closed again by the time it is read back
    assert listing.startswith("OK:'/proc/") or failed(listing, "ENOENT"), listing
    assert report["listed"]["0"] == "OK:'/dev/null'"
    for target in report["listed"].values():
        assert str(path) not in target and path.name not in target
    assert secret not in result.stdout and secret not in result.stderr


# -- privileges -----------------------------------------------------------------------

PRIVILEGE_BODY = '''
def status_of(pid):
    with open(f"/proc/{pid}/status") as handle:
        return dict(line.rstrip("\\n").split(":\\t", 1) for line in handle if ":\\t" in line)
status = status_of("self")
results = {"setuid": attempt(os.setuid, 0), "setgid": attempt(os.setgid, 0),
           "seteuid": attempt(os.seteuid, 0), "setgroups": attempt(os.setgroups, [0])}
# su is setuid root in the image; no-new-privileges must keep its uids ours. Popen returns
# once su is exec'd; it then waits at its password prompt on a pipe we have not written.
proc = subprocess.Popen(["/usr/bin/su", "-c", "id -u", "root"], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
su_status = attempt(lambda: status_of(proc.pid)["Uid"].split())
try:
    out, errout = proc.communicate(b"wrong-password\\n", timeout=5)
except subprocess.TimeoutExpired:
    proc.kill()
    out, errout = proc.communicate()
report(status={k: status.get(k) for k in ("Uid", "CapInh", "CapPrm", "CapEff", "CapBnd",
                                          "CapAmb", "NoNewPrivs", "Seccomp")},
       results=results, su_setuid=bool(os.stat("/usr/bin/su").st_mode & 0o4000),
       su_uids=su_status, su=[proc.returncode, out.decode(errors="replace"),
                              errout.decode(errors="replace")],
       after=[os.getuid(), os.geteuid(), os.getgid(), os.getegid()])
'''


def test_no_capabilities_no_new_privileges_no_setuid(sandbox: DockerSandbox) -> None:
    result, report = run(sandbox, PRIVILEGE_BODY)
    status = report["status"]
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert status[key] == "0000000000000000", (key, status)
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"  # a seccomp filter (Docker's default profile) applies
    assert status["Uid"].split() == [str(CONTAINER_UID)] * 4
    for name, outcome in report["results"].items():
        assert failed(outcome, "EPERM"), (name, outcome)
    assert report["su_setuid"] is True  # the setuid bit is there: the probe is live
    assert report["su_uids"] == f"OK:{[str(CONTAINER_UID)] * 4!r}", report  # not root
    code, out, _ = report["su"]
    assert code != 0 and out.strip() != "0", report["su"]
    assert report["after"] == [CONTAINER_UID] * 4


# -- kernel attack surface ------------------------------------------------------------

KERNEL_BODY = '''
results = {}
def seize(pid):  # PTRACE_SEIZE: attaches without stopping the tracee
    return raw(101, 0x4206, pid, 0, 0)
read_end, write_end = os.pipe()
child = os.fork()
if child == 0:
    os.close(read_end)
    os.write(write_end, json.dumps(seize(1)).encode())  # exiting detaches again
    os._exit(0)
os.close(write_end)
results["ptrace_pid1_from_child"] = json.loads(os.read(read_end, 200))
os.waitpid(child, 0)
results["ptrace_pid1_from_itself"] = seize(1)
results["ptrace_host_pid"] = seize(ARGS["host_pid"])
params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed: valid
bpf_attr = ctypes.create_string_buffer(b"\\x02\\0\\0\\0" + b"\\x04\\0\\0\\0" * 2
                                       + b"\\x01\\0\\0\\0", 128)  # a 1-entry array map
def clone_newuser():  # CLONE_NEWUSER | SIGCHLD; a child it made would leave at once
    outcome = raw(56, 0x10000000 | 17, 0, 0, 0, 0)
    if outcome[0] == 0:
        os._exit(0)
    if outcome[0] > 0:
        os.waitpid(outcome[0], 0)
    return outcome
libc_mount = _libc.mount
libc_mount.restype = ctypes.c_int
def mount_tmpfs():
    ctypes.set_errno(0)
    code = libc_mount(b"none", b"/work", b"tmpfs", ctypes.c_ulong(0), None)
    return [code, errno.errorcode.get(ctypes.get_errno(), "0")]
results.update(
    unshare_newuser=raw(272, 0x10000000), unshare_newnet=raw(272, 0x40000000),
    unshare_newns=raw(272, 0x00020000), clone_newuser=clone_newuser(),
    mount=mount_tmpfs(), io_uring_setup=raw(425, 4, ctypes.addressof(params)),
    keyctl=raw(250, 0, -3, 0, 0, 0),  # KEYCTL_GET_KEYRING_ID, the session keyring
    add_key=raw(248, 0, 0, 0, 0, -3), bpf=raw(321, 0, ctypes.addressof(bpf_attr), 128),
    perf_event_open=raw(298, 0, 0, -1, -1, 0), userfaultfd=raw(323, 0),
    setns=raw(308, -1, 0), kexec_load=raw(246, 0, 0, 0, 0),
    init_module=raw(175, 0, 0, 0))
report(**results)
'''

KERNEL_CALLS = ["unshare_newuser", "unshare_newnet", "unshare_newns", "clone_newuser",
                "mount", "keyctl", "add_key", "bpf", "perf_event_open", "userfaultfd",
                "setns", "kexec_load", "init_module"]


@pytest.fixture(scope="module")
def kernel_report(sandbox: DockerSandbox) -> dict[str, Any]:
    """One run tries every call below; each test checks one of them."""
    if not X86_64:
        pytest.skip("raw syscall numbers are x86_64's")
    _, report = run(sandbox, KERNEL_BODY, {"host_pid": os.getpid()})
    return report


@needs_x86_64
@pytest.mark.parametrize("name", KERNEL_CALLS)
def test_kernel_interfaces_are_refused(kernel_report: dict[str, Any], name: str,
                                       record_property: Any) -> None:
    outcome = kernel_report[name]
    record_property("errno", outcome[1])  # EPERM from seccomp or from the missing caps
    assert outcome[0] == -1 and outcome[1] != "0", (name, outcome)


@needs_x86_64
def test_io_uring_is_refused(kernel_report: dict[str, Any], record_property: Any) -> None:
    """Docker < 25's default profile allowed io_uring (a ring fd came back with valid
    arguments); DockerSandbox now passes its own profile, which refuses it."""
    outcome = kernel_report["io_uring_setup"]
    record_property("outcome", outcome)
    assert outcome == [-1, "EPERM"], outcome


@needs_x86_64
def test_ptrace_cannot_reach_outside_the_container(kernel_report: dict[str, Any]) -> None:
    # EPERM from our profile (ESRCH without it: host pids do not exist in here)
    assert kernel_report["ptrace_host_pid"] in ([-1, "EPERM"], [-1, "ESRCH"])
    assert kernel_report["ptrace_pid1_from_itself"] == [-1, "EPERM"]


@needs_x86_64
def test_ptrace_of_pid1_fails(kernel_report: dict[str, Any]) -> None:
    """Docker's default profile allows ptrace (and this kernel has no Yama); ours refuses."""
    outcome = kernel_report["ptrace_pid1_from_child"]
    assert outcome == [-1, "EPERM"], outcome


def test_proc_tricks_fail(sandbox: DockerSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = canary()
    monkeypatch.setenv("CANARY_SECRET", secret)
    core_pattern = Path("/proc/sys/kernel/core_pattern")
    core_before = core_pattern.read_bytes()
    body = PROC_WRITERS + textwrap.dedent('''\
    report(core_pattern=attempt(write_proc, "/proc/sys/kernel/core_pattern"),
           sysrq=attempt(open_for_write, "/proc/sysrq-trigger"),
           init_cmdline=read("/proc/1/cmdline").split("\\0"),
           init_env=attempt(read, "/proc/1/environ"),
           pids=sorted(int(name) for name in os.listdir("/proc") if name.isdigit()))
    ''')
    result, report = run(sandbox, body)
    assert failed(report["core_pattern"], "EROFS", "EACCES"), report
    no_sysrq = () if Path("/proc/sysrq-trigger").exists() else ("ENOENT",)  # not built in
    assert failed(report["sysrq"], "EROFS", "EACCES", *no_sysrq), report
    assert core_pattern.read_bytes() == core_before
    # pid 1 inside is the job's own interpreter, and it is alone: a pid namespace
    assert report["init_cmdline"][:4] == ["python3", "-I", "-B", "/job/escape.py"]
    assert report["pids"] == [1]
    assert secret not in result.stdout


# -- negative controls: the probes do see a hole ---------------------------------------


def control_run(sandbox: DockerSandbox, body: str, args: dict[str, Any],
                **weakened: Any) -> dict[str, Any]:
    """The payload in a container started straight through the docker SDK: the sandbox's
    hardening, with the `weakened` settings on top. Never through DockerSandbox."""
    settings: dict[str, Any] = dict(
        user=f"{CONTAINER_UID}:{CONTAINER_UID}", network_mode="none", read_only=True,
        tmpfs={"/work": f"size=16m,uid={CONTAINER_UID}"}, working_dir="/work",
        cap_drop=["ALL"], security_opt=["no-new-privileges"], mem_limit="256m",
        pids_limit=64)
    settings.update(weakened)
    container = sandbox.client.containers.create(
        DEFAULT_IMAGE, command=["python3", "-I", "-B", "-c", payload(body), json.dumps(args)],
        detach=True, **settings)
    try:
        container.start()
        status = container.wait(timeout=60)
        logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        assert status["StatusCode"] == 0, logs[-2000:]
        data: dict[str, Any] = json.loads(logs.strip().splitlines()[-1])
        return data
    finally:
        container.remove(force=True)


def test_control_host_network_lets_the_probe_reach_the_listener(sandbox: DockerSandbox) -> None:
    with loopback_listener() as listener:
        report = control_run(sandbox, CONNECT_BODY, {"port": listener.getsockname()[1]},
                             network_mode="host")
        assert report["inet"] == "OK:'connected'"  # ECONNREFUSED in the sandbox
        connection, _ = listener.accept()  # the check that stays quiet for the sandbox
        with connection:
            connection.settimeout(2)
            assert connection.recv(16) == b"knock"


def test_control_a_mounted_host_folder_is_read(sandbox: DockerSandbox,
                                               public_dir: Path) -> None:
    secret = canary()
    path = public_dir / "secret.txt"
    path.write_text(secret)
    path.chmod(0o644)
    report = control_run(sandbox, READ_BODY, {"paths": [str(path)]},
                         volumes={str(public_dir): {"bind": str(public_dir), "mode": "ro"}})
    assert report["results"][str(path)] == f"OK:{secret!r}"  # ENOENT in the sandbox


def test_control_leftover_checks_see_a_container_and_its_processes(
        sandbox: DockerSandbox) -> None:
    client = sandbox.client
    before = container_ids(client)
    container = client.containers.create(
        DEFAULT_IMAGE, command=["python3", "-c", "import time; time.sleep(60)"],
        user=f"{CONTAINER_UID}:{CONTAINER_UID}", network_mode="none", detach=True)
    try:
        container.start()
        assert container_ids(client) - before == {container.id}
        assert container.id in container_ids(client, ancestor=DEFAULT_IMAGE)
        deadline = time.monotonic() + 10
        while not host_processes({container.id}) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert host_processes({container.id})  # its python, found through its cgroup
        assert host_processes(uid=CONTAINER_UID)
    finally:
        container.remove(force=True)
    assert container.id not in container_ids(client)
    assert wait_for(lambda: host_processes({container.id}), 10) == []


def test_control_an_unsandboxed_process_is_found_by_uid() -> None:
    if os.geteuid() != 0:
        pytest.skip("starting a process as another uid needs root")
    proc = subprocess.Popen(["sleep", "30"], user=CONTAINER_UID, group=CONTAINER_UID,
                            extra_groups=[])
    try:
        assert any(line.startswith(f"{proc.pid} ")
                   for line in host_processes(uid=CONTAINER_UID))
    finally:
        proc.kill()
        proc.wait()
