from __future__ import annotations

import base64
import json
import multiprocessing
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from codegen_hook.errors import AuditError
from codegen_hook.security.audit import (
    ENTRY_ROLE, GENESIS, AuditEntry, AuditLog, AuditRecord, AuditVerdict,
)
from codegen_hook.security.crypto import EncryptedCodec, new_data_key

REPO = "/home/alice/secret-project"
KEY = new_data_key()


def codec(key: bytes = KEY) -> EncryptedCodec:
    return EncryptedCodec({"k": key}, "k")


def record(n: int, writer: str = "main") -> AuditRecord:
    return AuditRecord(
        repository=REPO, file="pkg/strings.py", qualname=f"slugify_title_{writer}_{n}",
        stub_sha256=f"{n:064x}", model="qwen2.5-coder-0.5b", model_sha256="ab" * 32,
        sandbox="bwrap", checks=("tests", "flake8", "mypy"), findings=n % 2, redactions=1,
        verdict="passed", delivery="written to strings.py", user="alice", host="laptop",
    )


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    audit = AuditLog(tmp_path / "audit", codec())
    for n in range(1, 5):
        audit.append(record(n))
    return audit


def attacked(log: AuditLog, tmp_path: Path, name: str) -> AuditLog:
    """A copy of the log to attack, so every attack starts from the same state."""
    folder = tmp_path / name
    shutil.copytree(log.folder, folder)
    return AuditLog(folder, codec())


def lines_of(log: AuditLog) -> list[bytes]:
    return log.entries_path.read_bytes().splitlines(keepends=True)


def write_lines(log: AuditLog, lines: list[bytes]) -> None:
    log.entries_path.write_bytes(b"".join(lines))


def reseal(log: AuditLog, index: int, change: Callable[[dict[str, object]], None]) -> None:
    """What an attacker holding the key can do: open an entry, change it, seal it again."""
    lines = lines_of(log)
    data = json.loads(log.codec.open(ENTRY_ROLE, base64.b64decode(lines[index].strip())))
    change(data)
    sealed = log.codec.seal(ENTRY_ROLE, json.dumps(data).encode())
    lines[index] = base64.b64encode(sealed) + b"\n"
    write_lines(log, lines)


def test_entries_read_back_equal_and_chained(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit", codec())
    assert audit.entries() == [] and audit.verify().ok
    written = [audit.append(record(n)) for n in range(1, 5)]
    assert audit.entries() == written
    assert [e.seq for e in written] == [1, 2, 3, 4]
    assert written[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in zip(written, written[1:]))
    assert all(e.hash == e.computed_hash() for e in written)
    assert written[0].time.endswith("+00:00")
    assert AuditEntry.from_json(json.loads(json.dumps(written[2].to_json()))) == written[2]
    verdict = audit.verify()
    assert verdict == AuditVerdict(True, 4, [], [], written[-1].hash)
    assert "#3" in written[2].summary() and "passed" in written[2].summary()


def test_nothing_readable_on_disk_and_private(log: AuditLog) -> None:
    assert stat.S_IMODE(log.folder.stat().st_mode) == 0o700
    for path in log.folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        raw = path.read_bytes()
        for secret in (REPO, "slugify_title", "alice", "strings.py", "qwen", "stub_sha256"):
            assert secret.encode() not in raw, (path, secret)


def test_altered_entry_resealed_with_the_key(log: AuditLog, tmp_path: Path) -> None:
    copy = attacked(log, tmp_path, "altered")
    reseal(copy, 1, lambda d: d.update(verdict="failed"))
    verdict = copy.verify()
    assert not verdict.ok
    assert verdict.problems == ["seq 2: altered (its content does not match its hash)"]


def test_altered_entry_with_its_hash_recomputed(log: AuditLog, tmp_path: Path) -> None:
    copy = attacked(log, tmp_path, "rehashed")

    def forge(data: dict[str, object]) -> None:
        data["delivery"] = "check only: not written"
        data["hash"] = AuditEntry.from_json({**data, "hash": ""}).computed_hash()

    reseal(copy, 1, forge)
    verdict = copy.verify()
    assert not verdict.ok
    assert len(verdict.problems) == 1
    assert verdict.problems[0].startswith("seq 3: its prev does not match the hash of seq 2")


def test_removed_middle_entry(log: AuditLog, tmp_path: Path) -> None:
    copy = attacked(log, tmp_path, "middle")
    lines = lines_of(copy)
    write_lines(copy, lines[:1] + lines[2:])
    verdict = copy.verify()
    assert not verdict.ok and verdict.entries == 3
    assert verdict.problems == ["seq 2: removed (missing between its neighbours)"]


def test_removed_last_entry_is_caught_by_the_head(log: AuditLog, tmp_path: Path) -> None:
    copy = attacked(log, tmp_path, "last")
    write_lines(copy, lines_of(copy)[:-1])
    verdict = copy.verify()
    assert not verdict.ok
    assert verdict.problems == ["seq 4..4: removed from the end (the head records 4 entries; "
                                "the log was truncated)"]
    with pytest.raises(AuditError, match="does not match its head"):
        copy.append(record(5))


def test_swapped_entries(log: AuditLog, tmp_path: Path) -> None:
    copy = attacked(log, tmp_path, "swapped")
    lines = lines_of(copy)
    lines[1], lines[2] = lines[2], lines[1]
    write_lines(copy, lines)
    verdict = copy.verify()
    assert verdict.problems == ["seq 2 is stored after seq 3: entries were reordered"]


def test_replayed_old_head(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit", codec())
    audit.append(record(1))
    audit.append(record(2))
    old_head = audit.head_path.read_bytes()
    audit_hash = audit.append(record(3)).hash
    write_lines(audit, lines_of(audit)[:-1])  # drop the newest entry, put its head back
    audit.head_path.write_bytes(old_head)
    rolled_back = audit.verify()  # a rollback: consistent, caught only by a kept last hash
    assert rolled_back.ok and rolled_back.last_hash != audit_hash
    audit.append(record(3))
    audit.append(record(4))
    audit.head_path.write_bytes(old_head)  # replay alone, entries untouched
    verdict = audit.verify()
    assert not verdict.ok
    assert "head was replaced by an older one" in verdict.problems[0]


def test_wrong_key_says_so(log: AuditLog) -> None:
    stranger = AuditLog(log.folder, codec(new_data_key()))
    verdict = stranger.verify()
    assert not verdict.ok and verdict.entries == 0 and len(verdict.problems) == 1
    assert verdict.problems[0].startswith("nothing in the audit log opens with this key")
    assert "codegen-hook key import" in verdict.problems[0]
    with pytest.raises(AuditError, match="does not open"):
        stranger.entries()
    with pytest.raises(AuditError, match="does not open"):
        stranger.append(record(5))


class Crash(Exception):
    """Stands in for the process dying."""


def test_torn_final_write_loses_one_entry_and_is_not_tampering(
        log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    real_append_line = AuditLog._append_line

    def dies_halfway(self: AuditLog, line: bytes) -> None:
        real_append_line(self, line[: len(line) // 2])
        raise Crash

    monkeypatch.setattr(AuditLog, "_append_line", dies_halfway)
    with pytest.raises(Crash):
        log.append(record(5))
    monkeypatch.undo()
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 4
    assert verdict.notes == ["incomplete last write: a run stopped while appending seq 5; "
                             "that entry was lost, the rest of the log is intact"]
    assert log.append(record(6)).seq == 5
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 5
    assert verdict.notes == ["1 earlier append(s) were interrupted and their entries lost"]


def test_crash_between_entry_and_head_loses_nothing(
        log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write_head = AuditLog._write_head
    calls: list[int] = []

    def dies_on_second_head(self: AuditLog, head: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise Crash
        real_write_head(self, head)  # type: ignore[arg-type]

    monkeypatch.setattr(AuditLog, "_write_head", dies_on_second_head)
    with pytest.raises(Crash):
        log.append(record(5))
    monkeypatch.undo()
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 5 and "nothing was lost" in verdict.notes[0]
    last = log.append(record(6))
    assert last.seq == 6
    assert log.verify() == AuditVerdict(True, 6, [], [], last.hash)


def test_bytes_appended_without_an_append_are_tampering(log: AuditLog, tmp_path: Path) -> None:
    copy = attacked(log, tmp_path, "garbage")
    write_lines(copy, lines_of(copy) + [lines_of(copy)[0][:20]])
    verdict = copy.verify()
    assert not verdict.ok
    assert verdict.problems == ["20 bytes after the last whole entry that no interrupted append "
                                "explains: the file was altered"]


def _append_many(folder: str, writer: str, count: int) -> None:
    audit = AuditLog(Path(folder), codec())
    for n in range(count):
        audit.append(record(n, writer))


def test_concurrent_appends_from_two_processes(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(str(folder), name, 15))
               for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    audit = AuditLog(folder, codec())
    verdict = audit.verify()
    assert verdict.ok and verdict.entries == 30, verdict.problems
    names = {e.qualname for e in audit.entries()}
    assert names == {f"slugify_title_{w}_{n}" for w in "ab" for n in range(15)}
