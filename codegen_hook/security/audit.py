"""The audit log: one hash-chained, encrypted entry per run.

Layout of the folder (0700; files 0600):

- `entries`: one line per entry, `base64(seal("audit-entry", json))`, O_APPEND, fsynced.
- `head`: `seal("audit-head", json)` of `count`, `last` (hash of entry `count`), `pending`
  (hash of the entry being appended, else null) and `lost` (appends that crashed before
  their entry was whole); replaced atomically.
- `.lock`: flock'ed exclusively around an append, shared around a read.

An append writes the head with `pending` set, then the entry, then the head without.
A crash thus leaves `pending` set and the entry either whole (nothing lost) or missing /
cut short ("incomplete last write": a note, the verdict stays ok; the next append drops
the cut-off bytes and counts it in `lost`). Cut-off bytes with no pending append are
tampering.

Each entry's `hash` is sha256 over the canonical JSON of its other fields, `prev`
included, so an entry altered and re-sealed by someone holding the key breaks its own
hash, or, if they fix that too, the next entry's `prev`. The limits: whoever holds the
key can rewrite every later entry and the head, and anyone can put back an earlier copy
of both files (a rollback); `AuditVerdict.last_hash`, kept elsewhere, rules both out.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import getpass
import hashlib
import json
import os
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from codegen_hook.atomic import write_atomic
from codegen_hook.errors import AuditError, CryptoError
from codegen_hook.security.perms import private_folder

__all__ = ["GENESIS", "AuditEntry", "AuditLog", "AuditRecord", "AuditVerdict"]

GENESIS = "0" * 64
ENTRY_ROLE = "audit-entry"
HEAD_ROLE = "audit-head"
_VERIFY = "run `codegen-hook audit verify` to see what changed"
_WRONG_KEY = ("nothing in the audit log opens with this key: it was written with another key. "
              "Import the key that wrote it (`codegen-hook key import`) and verify again")


class Codec(Protocol):
    def seal(self, role: str, data: bytes) -> bytes: ...

    def open(self, role: str, data: bytes) -> bytes: ...


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return str(os.getuid())


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """What one run did; `AuditLog.append` adds seq, time and the chain."""

    repository: str
    file: str
    qualname: str
    stub_sha256: str
    model: str
    model_sha256: str
    sandbox: str
    checks: tuple[str, ...]
    findings: int
    redactions: int
    verdict: str
    delivery: str  # "written to strings.py", "check only: not written", "left as it was"
    user: str = field(default_factory=_current_user)
    host: str = field(default_factory=socket.gethostname)


@dataclass(frozen=True, kw_only=True)
class AuditEntry(AuditRecord):
    seq: int  # from 1
    time: str  # UTC, ISO 8601
    prev: str  # hash of entry seq - 1; GENESIS for the first
    hash: str  # sha256 of the canonical JSON of every other field

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["checks"] = list(self.checks)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditEntry:
        """Raises ValueError unless `data` has exactly the fields, of the right types."""
        kinds = {f.name: f.type for f in fields(cls)}
        if not isinstance(data, dict) or set(data) != set(kinds):
            raise ValueError("not an audit entry: wrong fields")
        for name, kind in kinds.items():
            value = data[name]
            ok = (isinstance(value, list) and all(isinstance(v, str) for v in value)
                  if name == "checks" else
                  type(value) is int if kind == "int" else isinstance(value, str))
            if not ok:
                raise ValueError(f"not an audit entry: {name} has the wrong type")
        return cls(**{**data, "checks": tuple(data["checks"])})

    def computed_hash(self) -> str:
        data = self.to_json()
        del data["hash"]
        return hashlib.sha256(_canonical(data)).hexdigest()

    def summary(self) -> str:
        return (f"#{self.seq} {self.time} {self.user}@{self.host} {self.repository}: "
                f"{self.file}::{self.qualname} {self.verdict}, {self.delivery} "
                f"(model {self.model}, {len(self.checks)} checks, {self.findings} findings, "
                f"{self.redactions} redactions, sandbox {self.sandbox}) {self.hash[:12]}")


def _new_entry(record: AuditRecord, seq: int, prev: str, now: datetime | None) -> AuditEntry:
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    values = {f.name: getattr(record, f.name) for f in fields(record)}
    draft = AuditEntry(**values, seq=seq, time=moment.isoformat(timespec="seconds"),
                       prev=prev, hash="")
    return replace(draft, hash=draft.computed_hash())


@dataclass(frozen=True)
class AuditVerdict:
    """`ok` is false only for tampering or damage; `notes` explain crashes that lost nothing
    else (an interrupted append). `last_hash` is the newest entry's hash: compared with a copy
    kept elsewhere, it also rules out a rollback (an earlier entries file and head put back)."""

    ok: bool
    entries: int
    problems: list[str]
    notes: list[str] = field(default_factory=list)
    last_hash: str = GENESIS


@dataclass(frozen=True)
class _Head:
    count: int
    last: str
    pending: str | None = None
    lost: int = 0

    def to_bytes(self) -> bytes:
        return _canonical({"count": self.count, "last": self.last,
                           "pending": self.pending, "lost": self.lost})

    @classmethod
    def from_bytes(cls, raw: bytes) -> _Head:
        data = json.loads(raw)
        head = cls(data["count"], data["last"], data["pending"], data["lost"])
        if not (type(head.count) is int and isinstance(head.last, str)
                and type(head.lost) is int and isinstance(head.pending, (str, type(None)))):
            raise ValueError("not an audit head")
        return head


class AuditLog:
    """An append-only, hash-chained log in `folder`, every record sealed by `codec`."""

    def __init__(self, folder: Path, codec: Codec) -> None:
        self.folder = folder
        self.codec = codec
        self.entries_path = folder / "entries"
        self.head_path = folder / "head"

    def append(self, record: AuditRecord, *, now: datetime | None = None) -> AuditEntry:
        """Chain, seal and durably append `record`; AuditError if the log on disk does not
        match its head (tampering, or the wrong key)."""
        with self._lock(shared=False):
            lines, fragment = self._read_lines()
            state = self._committed_state(lines, fragment)
            entry = _new_entry(record, state.count + 1, state.last, now)
            self._write_head(replace(state, pending=entry.hash))
            sealed = self.codec.seal(ENTRY_ROLE, _canonical(entry.to_json()))
            self._append_line(base64.b64encode(sealed) + b"\n")
            self._write_head(_Head(entry.seq, entry.hash, None, state.lost))
        return entry

    def entries(self) -> list[AuditEntry]:
        """Every whole entry in stored order; AuditError if one does not open.
        Checks no chain: that is `verify()`."""
        with self._lock(shared=True):
            lines, _ = self._read_lines()
        found = []
        for number, line in enumerate(lines, 1):
            try:
                found.append(self._open_entry(line))
            except (CryptoError, ValueError) as exc:
                raise AuditError(f"audit entry on line {number} of {self.entries_path} does "
                                 f"not open ({exc}); {_VERIFY}") from exc
        return found

    def verify(self) -> AuditVerdict:
        """Check every entry's hash, the chain, the order and the head."""
        with self._lock(shared=True):
            lines, fragment = self._read_lines()
            head, head_error = self._try_head()
        entries, problems, key_failures = self._open_all(lines)
        head_failed = head_error is not None
        attempts = len(lines) + int(head is not None or head_failed)
        if attempts and key_failures + int(head_failed) == attempts:
            return AuditVerdict(False, 0, [f"{_WRONG_KEY} ({head_error or problems[0]})"])
        problems += _check_hashes(entries) + _check_order(entries) + _check_chain(entries)
        notes: list[str] = []
        if head_failed:
            problems.append(f"the head record does not open ({head_error}): it was altered "
                            "or replaced")
        elif head is None:
            if lines or fragment:
                problems.append("the head record is missing (deleted): entries removed from "
                                "the end could not be detected")
        else:
            _check_head(head, entries, fragment, problems, notes)
        top = max(entries, key=lambda e: e.seq, default=None)
        return AuditVerdict(not problems, len(entries), problems, notes,
                            top.hash if top else GENESIS)

    # storage
    @contextmanager
    def _lock(self, shared: bool) -> Iterator[None]:
        if shared and not self.folder.is_dir():
            yield
            return
        if not shared:
            private_folder(self.folder)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read_lines(self) -> tuple[list[bytes], bytes]:
        """Whole (newline-ended) lines, and any cut-off bytes after the last one."""
        try:
            data = self.entries_path.read_bytes()
        except FileNotFoundError:
            return [], b""
        *lines, fragment = data.split(b"\n")
        return lines, fragment

    def _append_line(self, line: bytes) -> None:
        fd = os.open(self.entries_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)

    def _open_entry(self, line: bytes) -> AuditEntry:
        try:
            sealed = base64.b64decode(line, validate=True)
        except binascii.Error as exc:
            raise ValueError("not base64") from exc
        return AuditEntry.from_json(json.loads(self.codec.open(ENTRY_ROLE, sealed)))

    def _try_head(self) -> tuple[_Head | None, str | None]:
        try:
            raw = self.head_path.read_bytes()
        except FileNotFoundError:
            return None, None
        try:
            return _Head.from_bytes(self.codec.open(HEAD_ROLE, raw)), None
        except (CryptoError, ValueError, KeyError, TypeError) as exc:
            return None, str(exc) or type(exc).__name__

    def _write_head(self, head: _Head) -> None:
        write_atomic(self.head_path, self.codec.seal(HEAD_ROLE, head.to_bytes()))
        fd = os.open(self.folder, os.O_RDONLY)  # make the rename itself durable
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _committed_state(self, lines: list[bytes], fragment: bytes) -> _Head:
        """The head as of the last whole append, after tidying up a crashed one."""
        head, error = self._try_head()
        if error is not None:
            raise AuditError(f"the audit head {self.head_path} does not open ({error}); "
                             f"{_VERIFY}")
        head = head or _Head(0, GENESIS)
        if head.pending is not None and len(lines) == head.count + 1 and not fragment \
                and self._last_hash(lines) == head.pending:
            return _Head(head.count + 1, head.pending, None, head.lost)  # head lagged
        if len(lines) == head.count and self._last_hash(lines) == head.last:
            if head.pending is not None:  # the entry never landed whole: drop its bytes
                if fragment:
                    size = self.entries_path.stat().st_size
                    os.truncate(self.entries_path, size - len(fragment))
                return _Head(head.count, head.last, None, head.lost + 1)
            if not fragment:
                return head
        raise AuditError(f"the audit log in {self.folder} does not match its head record, so "
                         f"nothing more is appended to it; {_VERIFY}, then move the folder "
                         "aside to start a new log")

    def _last_hash(self, lines: list[bytes]) -> str:
        if not lines:
            return GENESIS
        try:
            return self._open_entry(lines[-1]).hash
        except (CryptoError, ValueError):
            return ""

    def _open_all(self, lines: list[bytes]) -> tuple[list[AuditEntry], list[str], int]:
        """The entries that open, a problem per line that does not, and how many of those
        failed to decrypt (as opposed to decrypting to something that is not an entry)."""
        entries: list[AuditEntry] = []
        problems: list[str] = []
        key_failures = 0
        for number, line in enumerate(lines, 1):
            try:
                entries.append(self._open_entry(line))
            except CryptoError as exc:
                key_failures += 1
                problems.append(f"line {number}: the entry does not open ({exc}): it was "
                                "altered or replaced")
            except ValueError as exc:
                problems.append(f"line {number}: not an audit entry ({exc}): it was replaced")
        return entries, problems, key_failures


def _check_hashes(entries: list[AuditEntry]) -> list[str]:
    return [f"seq {e.seq}: altered (its content does not match its hash)"
            for e in entries if e.computed_hash() != e.hash]


def _check_order(entries: list[AuditEntry]) -> list[str]:
    problems = [f"seq {after.seq} is stored after seq {before.seq}: entries were reordered"
                for before, after in zip(entries, entries[1:]) if after.seq < before.seq]
    counts = Counter(e.seq for e in entries)
    problems += [f"seq {seq} appears {n} times: an entry was replayed or inserted"
                 for seq, n in sorted(counts.items()) if n > 1]
    problems += [f"seq {seq} is not a sequence number (they start at 1)"
                 for seq in sorted(counts) if seq < 1]
    top = max(counts, default=0)
    problems += [f"seq {seq}: removed (missing between its neighbours)"
                 for seq in range(1, top) if seq not in counts]
    return problems


def _check_chain(entries: list[AuditEntry]) -> list[str]:
    by_seq: dict[int, AuditEntry] = {}
    for entry in entries:
        by_seq.setdefault(entry.seq, entry)
    problems = []
    for seq, entry in sorted(by_seq.items()):
        before = GENESIS if seq == 1 else by_seq[seq - 1].hash if seq - 1 in by_seq else None
        if before is not None and entry.prev != before:
            problems.append(f"seq {seq}: its prev does not match the hash of seq {seq - 1}: "
                            f"the chain is broken (seq {seq - 1} was altered or replaced)")
    return problems


def _check_head(head: _Head, entries: list[AuditEntry], fragment: bytes,
                problems: list[str], notes: list[str]) -> None:
    top = max((e.seq for e in entries), default=0)
    last = next((e.hash for e in entries if e.seq == top), GENESIS)
    count, expected = head.count, head.last
    crashed_early = head.pending is not None and top == count
    if head.pending is not None and top == count + 1 and last == head.pending and not fragment:
        count, expected = top, head.pending
        notes.append(f"seq {top}: the append that wrote it was interrupted before it updated "
                     "the head; nothing was lost")
    elif crashed_early:
        notes.append(f"incomplete last write: a run stopped while appending seq {count + 1}; "
                     "that entry was lost, the rest of the log is intact")
    if fragment and not crashed_early:
        problems.append(f"{len(fragment)} bytes after the last whole entry that no interrupted "
                        "append explains: the file was altered")
    if top < count:
        problems.append(f"seq {top + 1}..{count}: removed from the end (the head records "
                        f"{count} entries; the log was truncated)")
    elif top > count:
        problems.append(f"the head records {count} entries but the log holds seq {top}: the "
                        "head was replaced by an older one, or entries were added around it")
    elif last != expected:
        problems.append(f"seq {top}: not the entry the head recorded last: it was replaced")
    if head.lost:
        notes.append(f"{head.lost} earlier append(s) were interrupted and their entries lost")
