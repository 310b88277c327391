"""RedCode-Exec (Python subset) through the bwrap or docker sandbox, with the host watched.

    .venv/bin/python benchmarks/redcode.py [--sandbox bwrap|docker] [--data DIR]
        [--categories 1,2,...] [--limit N] [--timeout S] [--memory-mb MB] [--no-seccomp]
        [--json] [--save FILE]

Every snippet runs once, sequentially, in `BwrapSandbox` (the default) or `DockerSandbox`
(`--sandbox docker`), never outside a sandbox. Before the
first run the script opens TCP and UDP listeners on 127.0.0.1 (and ::1) for every port the
snippets name next to 127.0.0.1/localhost, snapshots the host files they target (sha256 and
mtime; directories by their entries), plants a canary file in /tmp and a canary variable in
its own environment. After each run, and once more at the end, it checks that the files are
unchanged, that no listener saw a connection or datagram, that no canary and no line of the
host's /etc/passwd or /etc/shadow appears in the run's output, and that the run left nothing
behind: for bwrap, no process of a sandbox uid (61000-61063) alive; for docker, no container
that appeared during the run (container ids compared before and after each snippet, and
between the start and the end) and no live process of the container uid (60999) outside a
container that is not ours.

A snippet "succeeded" at its harmful aim when the host saw any of that during its run. The
exit status is 0 when none did (and no run left anything behind), 1 otherwise, 2 when the
benchmark could not start. Data: RedCode-Exec (AI-secure/RedCode, CC BY 4.0).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import re
import secrets
import selectors
import socket
import stat
import statistics
import sys
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from codegen_hook.errors import CodegenHookError
from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.isolation.docker import DockerSandbox

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "redcode-exec"
VERDICTS = ("ok", "error", "timeout", "memory", "killed")
UNAVAILABLE = "unavailable"  # the sandbox raised instead of running the job
SANDBOX_UIDS = range(61000, 61064)
PRIMARY_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/root/.bashrc", "/root/.profile",
                 "/etc/hosts")
SECRET_SOURCES = ("/etc/passwd", "/etc/shadow")
SANDBOX_READABLE_COPIES = ("/usr/share/base-passwd/passwd.master",
                           "/usr/share/base-passwd/group.master")
# what the container uid may read in the docker image: the image's own account files
IMAGE_READABLE_COPIES = ("/etc/passwd", "/etc/group", *SANDBOX_READABLE_COPIES)
DOCKER_UID = 60999  # DockerSandbox's container uid, the same number on the host
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
VIRTUAL_PREFIXES = ("/proc", "/sys", "/dev")
CANARY_ENV = "REDCODE_CANARY"
HASH_LIMIT = 8 << 20
PROGRESS_EVERY = 30
LINGER_RECHECK_S = 0.5
LINGERING = ("lingering_process", "lingering_container")

_LOOPBACK = re.compile(r"127\.0\.0\.1|localhost")
_EXPLICIT_PORT = (
    re.compile(r"(?:127\.0\.0\.1|localhost):(\d{1,5})\b"),
    re.compile(r"""['"](?:127\.0\.0\.1|localhost)['"]\s*,\s*(\d{1,5})\b"""),
    re.compile(r"\b\w*port\w*\s*=\s*(\d{1,5})\b", re.IGNORECASE),
)
_DEFAULT_PORT = re.compile(r"(https?)://(?:127\.0\.0\.1|localhost)(?![:\d])")
_ANY_NUMBER = re.compile(r"(?<![\w.])(\d{4,5})(?![\w.])")
_ABSOLUTE_PATH = re.compile(r"""['"](/[A-Za-z0-9_.\-/]+)['"]""")


# --- data ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Snippet:
    category: int
    index: str
    code: str
    expected: str


def load_snippets(folder: Path) -> list[Snippet]:
    files = []
    for path in folder.glob("index*_30_codes_full.json"):
        match = re.fullmatch(r"index(\d+)_30_codes_full\.json", path.name)
        if match:
            files.append((int(match.group(1)), path))
    if not files:
        raise SystemExit(f"no index*_30_codes_full.json in {folder}; pass --data DIR")
    snippets = []
    for category, path in sorted(files):
        entries = json.loads(path.read_text("utf-8"))
        for number, entry in enumerate(entries, 1):
            snippets.append(Snippet(category=category,
                                    index=str(entry.get("Index") or f"{category}_{number}"),
                                    code=str(entry["Code"]),
                                    expected=str(entry.get("expected_result", ""))))
    return snippets


def select(snippets: list[Snippet], categories: set[int] | None,
           limit: int | None) -> list[Snippet]:
    chosen = [s for s in snippets if categories is None or s.category in categories]
    return chosen[:limit] if limit is not None else chosen


def target_ports(snippets: Iterable[Snippet], bound: int) -> list[int]:
    """Ports named next to 127.0.0.1/localhost: explicit ones first, then any 4-5 digit
    number in such a snippet, most frequent first, at most `bound`."""
    explicit: Counter[int] = Counter()
    loose: Counter[int] = Counter()
    for snippet in snippets:
        if not _LOOPBACK.search(snippet.code):
            continue
        for pattern in _EXPLICIT_PORT:
            explicit.update(int(p) for p in pattern.findall(snippet.code) if 0 < int(p) < 65536)
        for scheme in _DEFAULT_PORT.findall(snippet.code):
            explicit[443 if scheme == "https" else 80] += 1
        loose.update(int(n) for n in _ANY_NUMBER.findall(snippet.code) if 1024 <= int(n) < 65536)
    ordered = [p for p, _ in explicit.most_common()]
    ordered += [p for p, _ in loose.most_common() if p not in explicit]
    return ordered[:bound]


def target_paths(snippets: Iterable[Snippet]) -> list[str]:
    """Absolute path literals in the snippets, less the kernel's virtual file systems."""
    found = set()
    for snippet in snippets:
        for path in _ABSOLUTE_PATH.findall(snippet.code):
            clean = os.path.normpath(path)
            if not any(clean == p or clean.startswith(p + "/") for p in VIRTUAL_PREFIXES):
                found.add(clean)
    return sorted(found)


# --- host file watch -----------------------------------------------------------------------

@dataclass(frozen=True)
class FileState:
    kind: str  # file, dir, link, missing, other
    sha256: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    mode: int | None = None
    detail: tuple[str, ...] = ()  # a directory's entries, a link's target

    def describe(self) -> str:
        if self.kind == "missing":
            return "missing"
        digest = (self.sha256 or "-")[:12]
        return f"{self.kind} sha256={digest} size={self.size} mtime_ns={self.mtime_ns}"


def file_state(path: str) -> FileState:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return FileState("missing")
    except OSError as exc:
        return FileState("other", detail=(f"lstat: {exc.strerror}",))
    size, mtime, mode = info.st_size, info.st_mtime_ns, info.st_mode
    if stat.S_ISLNK(mode):
        return FileState("link", size=size, mtime_ns=mtime, mode=mode, detail=(os.readlink(path),))
    if stat.S_ISDIR(mode):
        try:
            entries = tuple(sorted(os.listdir(path)))
        except OSError as exc:
            entries = (f"listdir: {exc.strerror}",)
        # a directory's mtime moves with every entry added or removed: compare the entries
        return FileState("dir", mode=mode, detail=entries)
    if not stat.S_ISREG(mode):
        return FileState("other", size=size, mtime_ns=mtime, mode=mode)
    digest = None
    if size <= HASH_LIMIT:
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError as exc:
            digest = f"unreadable: {exc.strerror}"
    return FileState("file", sha256=digest, size=size, mtime_ns=mtime, mode=mode)


class HostFiles:
    """Snapshots of watched paths; `changes()` reports each change once and re-baselines."""

    def __init__(self, primary: Sequence[str], secondary: Sequence[str]) -> None:
        self.primary = list(dict.fromkeys(primary))
        self.paths = self.primary + [p for p in secondary if p not in self.primary]
        self.baseline = {path: file_state(path) for path in self.paths}

    def changes(self) -> list[tuple[str, FileState, FileState]]:
        found = []
        for path in self.paths:
            now = file_state(path)
            before = self.baseline[path]
            if now != before:
                found.append((path, before, now))
                self.baseline[path] = now
        return found


# --- loopback listeners --------------------------------------------------------------------

@dataclass(frozen=True)
class NetEvent:
    when: float
    proto: str
    address: str
    port: int
    peer: str
    preview: str


class Listeners:
    """TCP and UDP sockets on the loopback addresses; a thread records whatever arrives."""

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = list(ports)
        self.bound: list[str] = []
        self.failed: list[str] = []
        self.events: list[NetEvent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._loop, name="redcode-listeners", daemon=True)

    def start(self) -> None:
        for address, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
            for port in self.ports:
                for proto, kind in (("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)):
                    label = f"{proto}/{address}:{port}"
                    try:
                        sock = socket.socket(family, kind)
                    except OSError as exc:
                        self.failed.append(f"{label} ({exc.strerror})")
                        continue
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        sock.bind((address, port))
                        if kind == socket.SOCK_STREAM:
                            sock.listen(16)
                        sock.setblocking(False)
                    except OSError as exc:
                        sock.close()
                        self.failed.append(f"{label} ({exc.strerror})")
                        continue
                    self._sockets.append(sock)
                    self._selector.register(sock, selectors.EVENT_READ, (proto, address, port))
                    self.bound.append(label)
        self._thread.start()

    def _record(self, proto: str, address: str, port: int, peer: Any, data: bytes) -> None:
        event = NetEvent(time.time(), proto, address, port, str(peer),
                         data[:200].decode("utf-8", "replace"))
        with self._lock:
            self.events.append(event)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                proto, address, port = key.data
                try:
                    if proto == "udp":
                        data, peer = sock.recvfrom(65536)
                        self._record(proto, address, port, peer, data)
                        continue
                    conn, peer = sock.accept()
                except OSError:
                    continue
                data = b""
                with conn:
                    conn.settimeout(0.5)
                    with contextlib.suppress(OSError):
                        data = conn.recv(4096)
                self._record(proto, address, port, peer, data)

    def count(self) -> int:
        with self._lock:
            return len(self.events)

    def since(self, start: int) -> list[NetEvent]:
        with self._lock:
            return self.events[start:]

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for sock in self._sockets:
            sock.close()
        self._selector.close()


# --- sandbox uid processes -----------------------------------------------------------------

@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    uids: tuple[int, ...]
    state: str
    comm: str
    start_s: float  # seconds since boot
    cmdline: str


_TICKS = os.sysconf("SC_CLK_TCK")


def read_proc(pid: int) -> Proc | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text("utf-8", "replace")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    head, _, tail = raw.rpartition(b")")
    fields = tail.split()
    uids: tuple[int, ...] = ()
    for line in status.splitlines():
        if line.startswith("Uid:"):
            uids = tuple(int(v) for v in line.split()[1:])
            break
    try:
        return Proc(pid=pid, ppid=int(fields[1]), uids=uids, state=fields[0].decode(),
                    comm=head.partition(b"(")[2].decode("utf-8", "replace"),
                    start_s=int(fields[19]) / _TICKS,
                    cmdline=cmdline.replace(b"\0", b" ").decode("utf-8", "replace").strip())
    except (IndexError, ValueError):
        return None


def _in_range(proc: Proc) -> bool:
    return any(uid in SANDBOX_UIDS for uid in proc.uids)


def sandbox_processes() -> list[Proc]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            proc = read_proc(int(entry.name))
            if proc is not None and _in_range(proc) and proc.state not in ("Z", "X"):
                found.append(proc)
    return found


def in_live_foreign_run(proc: Proc) -> bool:
    """Whether `proc` sits under a bwrap that another live process (not us, not init)
    started: a concurrent run of someone else's, not something a run of ours left."""
    top, current = proc, proc
    for _ in range(64):
        parent = read_proc(current.ppid) if current.ppid > 0 else None
        if parent is None:
            return False
        if not _in_range(parent):
            return parent.pid not in (1, os.getpid()) and top.comm == "bwrap"
        top = current = parent
    return False


def boot_seconds() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


# --- the run --------------------------------------------------------------------------------

@dataclass
class Record:
    category: int
    index: str
    verdict: str
    exit_code: int | None
    seconds: float
    expected_seen: bool
    last_error: str
    incidents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def harmful(self) -> bool:
        return any(i["kind"] in ("host_change", "connection", "leak") for i in self.incidents)

    @property
    def lingered(self) -> bool:
        return any(i["kind"] in LINGERING for i in self.incidents)


class UidLeftovers:
    """bwrap: processes of a sandbox uid that started during one of our runs."""

    def __init__(self) -> None:
        self.seen_lingering: set[tuple[int, float]] = set()
        self.foreign_seen: set[tuple[int, float]] = set()

    def before_run(self) -> None:
        pass

    def check(self, runs: Sequence[tuple[float, float]], final: bool) -> list[dict[str, Any]]:
        candidates = [p for p in sandbox_processes() if not in_live_foreign_run(p)]
        if candidates:  # a run being torn down (ours or another's) can show for a moment
            time.sleep(LINGER_RECHECK_S)
            candidates = [p for p in sandbox_processes() if not in_live_foreign_run(p)]
        return lingering_processes(candidates, runs, self.seen_lingering, self.foreign_seen)


def lingering_processes(candidates: Iterable[Proc], runs: Sequence[tuple[float, float]],
                        seen: set[tuple[int, float]],
                        foreign_seen: set[tuple[int, float]]) -> list[dict[str, Any]]:
    """An incident for each candidate that started during one of our runs (once each)."""
    incidents = []
    for proc in candidates:
        key = (proc.pid, proc.start_s)
        ours = any(start - 1.0 <= proc.start_s <= end + 1.0 for start, end in runs)
        if not ours:
            if key not in foreign_seen:
                foreign_seen.add(key)
                print(f"note: process {proc.pid} of uid {proc.uids[:2]} ({proc.comm}) did "
                      "not start during a run of ours; not counted", file=sys.stderr)
            continue
        if key in seen:
            continue
        seen.add(key)
        incidents.append({"kind": "lingering_process", "pid": proc.pid,
                          "uids": list(proc.uids), "state": proc.state, "comm": proc.comm,
                          "cmdline": proc.cmdline[:200]})
    return incidents


def container_of(pid: int) -> str | None:
    """The id of the container whose cgroup holds `pid`, if any."""
    try:
        match = _CONTAINER_ID.search(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return None
    return match.group(0) if match else None


class ContainerLeftovers:
    """docker: containers that appeared during a run of ours and still exist after it, and
    live processes of the container uid that no live container of someone else's holds."""

    def __init__(self, client: Any, image: str) -> None:
        self.client = client
        self.image = image
        self.at_start = self.ids()
        self.before = set(self.at_start)
        self.seen: set[str] = set()
        self.foreign_seen: set[str] = set()
        self.seen_processes: set[tuple[int, float]] = set()
        self.foreign_processes: set[tuple[int, float]] = set()
        self.boot_offset = time.time() - boot_seconds()  # wall clock = boot seconds + this

    def ids(self) -> set[str]:
        return {c.id for c in self.client.containers.list(all=True, sparse=True)}

    def before_run(self) -> None:
        self.before = self.ids()

    def _created_boot_s(self, info: dict[str, Any]) -> float:
        text = re.sub(r"(\.\d{6})\d*", r"\1", str(info.get("Created", "")))
        try:
            wall = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return math.nan
        return wall - self.boot_offset

    def check(self, runs: Sequence[tuple[float, float]], final: bool) -> list[dict[str, Any]]:
        new = self.ids() - (self.at_start if final else self.before)
        if new - self.seen:  # one being removed (ours or another's) can show for a moment
            time.sleep(LINGER_RECHECK_S)
            new &= self.ids()
        incidents: list[dict[str, Any]] = []
        for cid in sorted(new - self.seen - self.foreign_seen):
            try:
                info = self.client.api.inspect_container(cid)
            except Exception:  # removed meanwhile
                continue
            created = self._created_boot_s(info)
            command = info.get("Config", {}).get("Cmd") or []
            ours = ("/job/snippet.py" in command and any(
                start - 1.0 <= created <= end + 1.0 for start, end in runs))
            if not ours:
                self.foreign_seen.add(cid)
                print(f"note: container {cid[:12]} ({info.get('Config', {}).get('Image')}) "
                      "was not made by a run of ours; not counted", file=sys.stderr)
                continue
            self.seen.add(cid)
            incidents.append({"kind": "lingering_container", "id": cid,
                              "status": info.get("State", {}).get("Status"),
                              "command": " ".join(command)[:200]})
        return incidents + self._processes(runs)

    def _processes(self, runs: Sequence[tuple[float, float]]) -> list[dict[str, Any]]:
        live = self.ids()

        def candidates() -> list[Proc]:
            found = []
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                proc = read_proc(int(entry.name))
                if proc is None or DOCKER_UID not in proc.uids or proc.state in ("Z", "X"):
                    continue
                holder = container_of(proc.pid)
                if holder is not None and holder in live and holder not in self.seen:
                    continue  # inside a live container of someone else's
                found.append(proc)
            return found

        procs = candidates()
        if procs:
            time.sleep(LINGER_RECHECK_S)
            live = self.ids()
            procs = candidates()
        return lingering_processes(procs, runs, self.seen_processes, self.foreign_processes)


@dataclass
class Watch:
    files: HostFiles
    listeners: Listeners
    secrets: dict[str, str]  # marker -> what it is
    leftovers: UidLeftovers | ContainerLeftovers
    runs: list[tuple[float, float]] = field(default_factory=list)  # our runs, boot seconds
    events_checked: int = 0

    def check(self, snippet: Snippet | None, output: str) -> list[dict[str, Any]]:
        incidents: list[dict[str, Any]] = []
        for path, before, now in self.files.changes():
            mentioned = snippet is not None and path in snippet.code
            incidents.append({"kind": "host_change", "path": path, "before": before.describe(),
                              "after": now.describe(), "primary": path in self.files.primary,
                              "mentioned_by_snippet": mentioned})
        events = self.listeners.since(self.events_checked)
        self.events_checked += len(events)
        incidents += [{"kind": "connection", **asdict(e)} for e in events]
        for marker, what in self.secrets.items():
            if marker in output:
                incidents.append({"kind": "leak", "what": what})
        incidents += self.leftovers.check(self.runs, final=snippet is None)
        return incidents


def host_secrets(snippets: Sequence[Snippet], readable: str | None = None) -> dict[str, str]:
    """Lines of the host's passwd and shadow that a sandboxed run cannot produce on its own:
    not in any snippet, not in what the sandbox may read (`readable`; by default the copies
    under the host's /usr, which bwrap mounts)."""
    known = "\n".join(s.code for s in snippets)
    if readable is None:
        readable = ""
        for copy in SANDBOX_READABLE_COPIES:
            with contextlib.suppress(OSError):
                readable += "\n" + Path(copy).read_text("utf-8", "replace")
    known += "\n" + readable
    found = {}
    for source in SECRET_SOURCES:
        try:
            lines = Path(source).read_text("utf-8", "replace").splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.strip()
            if len(line) >= 16 and line not in known:
                found[line] = f"a line of the host's {source}"
    return found


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def last_error_line(result: RunResult) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def image_files(client: Any, image: str, paths: Sequence[str]) -> str:
    """The text of `paths` in the docker image, read from a container that is created and
    never started (nothing runs), then removed."""
    container = client.containers.create(image, command=["true"], network_mode="none")
    texts = []
    try:
        for path in paths:
            try:
                chunks, _ = container.get_archive(path)
            except Exception:  # not in this image
                continue
            with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
                for member in archive.getmembers():
                    handle = archive.extractfile(member) if member.isfile() else None
                    if handle is not None:
                        texts.append(handle.read().decode("utf-8", "replace"))
    finally:
        container.remove(force=True)
    return "\n".join(texts)


def make_sandbox(args: argparse.Namespace) -> tuple[Sandbox, UidLeftovers | ContainerLeftovers,
                                                    str | None]:
    """The sandbox, its leftover check and (docker) what its uid may read of its own."""
    if args.sandbox == "docker":
        docker_sandbox = DockerSandbox()
        client, image = docker_sandbox.client, docker_sandbox.image
        return (docker_sandbox, ContainerLeftovers(client, image),
                image_files(client, image, IMAGE_READABLE_COPIES))
    return BwrapSandbox(use_seccomp=not args.no_seccomp), UidLeftovers(), None


def run_errors(sandbox: Sandbox) -> tuple[type[BaseException], ...]:
    """What a run may raise instead of returning (the engine's API errors, for docker)."""
    if isinstance(sandbox, DockerSandbox):
        import docker.errors
        return CodegenHookError, OSError, docker.errors.DockerException
    return CodegenHookError, OSError


@contextlib.contextmanager
def canaries() -> Iterator[tuple[str, dict[str, str]]]:
    """A world-readable file in /tmp (its name and its content are markers) and a variable
    in our own environment; yields the file's path and the markers."""
    name_marker, content_marker, env_marker = (f"rc{secrets.token_hex(16)}" for _ in range(3))
    path = Path("/tmp") / f"redcode-canary-{name_marker}.txt"
    previous = os.environ.get(CANARY_ENV)
    path.write_text(f"{content_marker}\n", "utf-8")
    os.chmod(path, 0o644)
    os.environ[CANARY_ENV] = env_marker
    try:
        yield str(path), {name_marker: "the canary file's name",
                          content_marker: "the canary file's content",
                          env_marker: f"the host's ${CANARY_ENV}"}
    finally:
        path.unlink(missing_ok=True)
        if previous is None:
            os.environ.pop(CANARY_ENV, None)
        else:
            os.environ[CANARY_ENV] = previous


def run_all(args: argparse.Namespace, dataset: list[Snippet],
            snippets: list[Snippet]) -> dict[str, Any]:
    """Run `snippets`; listen on and watch what any snippet of `dataset` targets."""
    sandbox, leftovers, readable = make_sandbox(args)
    errors = run_errors(sandbox)
    ports = target_ports(dataset, args.max_ports)
    listeners = Listeners(ports)
    records: list[Record] = []
    start_wall = time.perf_counter()
    with canaries() as (canary_path, markers):
        files = HostFiles([*PRIMARY_FILES, canary_path], target_paths(dataset))
        watch = Watch(files, listeners, {**markers, **host_secrets(dataset, readable)},
                      leftovers)
        listeners.start()
        try:
            for number, snippet in enumerate(snippets, 1):
                job = SandboxJob(files={"snippet.py": snippet.code}, entry="snippet.py",
                                 timeout=args.timeout, memory_mb=args.memory_mb)
                leftovers.before_run()
                began = boot_seconds()
                error = ""
                try:
                    result: RunResult | None = sandbox.run(job)
                except errors as exc:
                    result = None
                    error = f"{type(exc).__name__}: {exc}"[:200]
                watch.runs.append((began, boot_seconds()))
                output = "" if result is None else result.stdout + "\n" + result.stderr
                records.append(Record(
                    category=snippet.category, index=snippet.index,
                    verdict=UNAVAILABLE if result is None else result.verdict,
                    exit_code=None if result is None else result.exit_code,
                    seconds=0.0 if result is None else result.seconds,
                    expected_seen=result is not None and bool(snippet.expected.strip())
                    and snippet.expected.strip() in result.stdout,
                    last_error=error if result is None else last_error_line(result),
                    incidents=watch.check(snippet, output)))
                if number % PROGRESS_EVERY == 0 or number == len(snippets):
                    progress(number, len(snippets), records, time.perf_counter() - start_wall)
            time.sleep(0.3)  # a late connection or datagram still lands in the final check
            final = watch.check(None, "")
        finally:
            listeners.stop()
    wall = time.perf_counter() - start_wall
    return report(args, sandbox, listeners, files.paths, records, final, wall)


def progress(done: int, total: int, records: Sequence[Record], elapsed: float) -> None:
    verdicts = Counter(r.verdict for r in records)
    shown = " ".join(f"{v}={verdicts[v]}" for v in (*VERDICTS, UNAVAILABLE) if verdicts[v])
    harmful = sum(r.harmful for r in records)
    print(f"[{done:4d}/{total}] category {records[-1].category:2d}  {elapsed:7.1f} s  {shown}  "
          f"harmful={harmful}", file=sys.stderr, flush=True)


def summarize(records: Sequence[Record]) -> dict[str, Any]:
    verdicts = Counter(r.verdict for r in records)
    seconds = [r.seconds for r in records if r.verdict != UNAVAILABLE]
    errors = Counter(r.last_error for r in records if r.verdict != "ok" and r.last_error)
    return {"snippets": len(records),
            "verdicts": {v: verdicts[v] for v in (*VERDICTS, UNAVAILABLE)},
            "harmful_successes": sum(r.harmful for r in records),
            "lingering_processes": sum(r.lingered for r in records),
            "expected_result_seen": sum(r.expected_seen for r in records),
            "median_s": statistics.median(seconds) if seconds else math.nan,
            "p95_s": percentile(seconds, 0.95),
            "top_errors": errors.most_common(3)}


def report(args: argparse.Namespace, sandbox: Sandbox, listeners: Listeners,
           watched: list[str], records: list[Record], final: list[dict[str, Any]],
           wall: float) -> dict[str, Any]:
    by_category: dict[int, list[Record]] = {}
    for record in records:
        by_category.setdefault(record.category, []).append(record)
    incidents = [{"index": r.index, **i} for r in records for i in r.incidents]
    incidents += [{"index": "(final check)", **i} for i in final]
    overall = summarize(records)
    overall["final_check_harmful"] = sum(
        i["kind"] in ("host_change", "connection", "leak") for i in final)
    overall["final_check_lingering"] = sum(i["kind"] in LINGERING for i in final)
    if isinstance(sandbox, BwrapSandbox):
        seccomp, profile = sandbox.seccomp is not None, (
            "codegen-hook deny-list" if sandbox.seccomp is not None else "OFF")
        python, image = sandbox.python, None
    else:
        assert isinstance(sandbox, DockerSandbox)
        seccomp, profile = True, "codegen-hook deny-list as a Docker profile"
        python, image = f"python3 in {sandbox.image}", sandbox.image
    return {
        "benchmark": "redcode-exec",
        "sandbox": sandbox.name,
        "seccomp": seccomp,
        "seccomp_profile": profile,
        "image": image,
        "python": python,
        "timeout_s": args.timeout,
        "memory_mb": args.memory_mb,
        "wall_s": wall,
        "listening": {"ports": listeners.ports, "bound": len(listeners.bound),
                      "failed": listeners.failed},
        "watched_paths": watched,
        "overall": overall,
        "categories": {str(c): summarize(rs) for c, rs in sorted(by_category.items())},
        "incidents": incidents,
        "runs": [asdict(r) for r in records],
    }


def print_table(figures: dict[str, Any]) -> None:
    head = (f"{'cat':>4} {'n':>4} {'ok':>4} {'error':>5} {'tmout':>5} {'mem':>4} {'kill':>4} "
            f"{'unav':>4} {'harm':>4} {'lingr':>5} {'exp':>4} {'median s':>9} {'p95 s':>7}")
    print(head)
    print("-" * len(head))
    rows = [*figures["categories"].items(), ("all", figures["overall"])]
    for name, row in rows:
        if name == "all":
            print("-" * len(head))
        v = row["verdicts"]
        print(f"{name:>4} {row['snippets']:>4} {v['ok']:>4} {v['error']:>5} {v['timeout']:>5} "
              f"{v['memory']:>4} {v['killed']:>4} {v[UNAVAILABLE]:>4} "
              f"{row['harmful_successes']:>4} {row['lingering_processes']:>5} "
              f"{row['expected_result_seen']:>4} {row['median_s']:>9.3f} {row['p95_s']:>7.3f}")
    overall = figures["overall"]
    listening = figures["listening"]
    print()
    print(f"sandbox {figures['sandbox']} (seccomp: {figures['seccomp_profile']}), "
          f"python {figures['python']}, timeout {figures['timeout_s']:g} s, "
          f"memory {figures['memory_mb']} MB")
    print(f"listened on ports {listening['ports']} ({listening['bound']} sockets bound"
          + (f"; failed: {', '.join(listening['failed'])}" if listening["failed"] else "") + ")")
    print(f"harmful successes seen by the host: {overall['harmful_successes']} "
          f"(final check: {overall['final_check_harmful']} incidents); runs that left "
          f"something behind: {overall['lingering_processes']} (final check: "
          f"{overall['final_check_lingering']})")
    print(f"wall {figures['wall_s']:.1f} s; per run median {overall['median_s']:.3f} s, "
          f"p95 {overall['p95_s']:.3f} s")
    print("columns: harm = snippets whose run the host saw (file changed, connection or "
          "datagram received, canary or passwd/shadow line in output); lingr = runs that left "
          "a sandbox-uid process alive (bwrap) or a container or container-uid process "
          "(docker); exp = the dataset's expected_result found in stdout")
    for incident in figures["incidents"]:
        print("INCIDENT", json.dumps(incident, default=str))


def parse_categories(text: str) -> set[int]:
    try:
        return {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated numbers, e.g. 1,2,27")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sandbox", choices=("bwrap", "docker"), default="bwrap",
                        help="which sandbox runs the snippets (bwrap)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"the RedCode-Exec folder (default {DEFAULT_DATA})")
    parser.add_argument("--categories", type=parse_categories, default=None,
                        help="only these categories, e.g. 1,2,27")
    parser.add_argument("--limit", type=int, default=None, help="only the first N snippets")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per run (5)")
    parser.add_argument("--memory-mb", type=int, default=256, help="memory per run (256)")
    parser.add_argument("--no-seccomp", action="store_true",
                        help="BwrapSandbox(use_seccomp=False), to compare verdict counts "
                        "(bwrap only)")
    parser.add_argument("--max-ports", type=int, default=40,
                        help="listen on at most this many ports (40)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--save", type=Path, default=None,
                        help="also write the full JSON, every run included, to this file")
    args = parser.parse_args(argv)
    if args.no_seccomp and args.sandbox != "bwrap":
        parser.error("--no-seccomp is for --sandbox bwrap (docker applies its default profile)")
    dataset = load_snippets(args.data)
    snippets = select(dataset, args.categories, args.limit)
    if not snippets:
        print("no snippets selected", file=sys.stderr)
        return 2
    try:
        figures = run_all(args, dataset, snippets)
    except CodegenHookError as exc:
        print(f"cannot run the benchmark: {exc}", file=sys.stderr)
        return 2
    if args.save is not None:
        args.save.write_text(json.dumps(figures, indent=2, default=str) + "\n", "utf-8")
    if args.json:
        shown = {k: v for k, v in figures.items() if k != "runs"}
        print(json.dumps(shown, indent=2, default=str))
    else:
        print_table(figures)
    overall = figures["overall"]
    failed = (overall["harmful_successes"] or overall["final_check_harmful"]
              or overall["lingering_processes"] or overall["final_check_lingering"])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
