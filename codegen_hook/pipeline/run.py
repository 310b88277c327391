"""Files in, report out: find stubs, fill each, write verified bodies back.

A file is read once, every stub in it gets its turn, and the file is written once
(atomically) with the accepted bodies, or left byte-for-byte as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codegen_hook.backends.base import Backend
from codegen_hook.checks.base import Check
from codegen_hook.config import Settings, data_dir
from codegen_hook.errors import CodegenHookError
from codegen_hook.index.build import IndexReport
from codegen_hook.isolation.base import Sandbox
from codegen_hook.pipeline.context import RepoContext, prepare_repo_context
from codegen_hook.pipeline.environment import ProjectEnv
from codegen_hook.pipeline.fill import StubFiller
from codegen_hook.security.crypto import EncryptedCodec
from codegen_hook.pipeline.outcome import SCHEMA_VERSION, Event, Outcome
from codegen_hook.pipeline.proof_tests import write_proof_tests
from codegen_hook.stubs import SkippedStub, SourceFile, Stub, find_stubs, splice_bodies

__all__ = ["FileReport", "FillReport", "IndexOutcome", "fill_paths"]


@dataclass(frozen=True)
class IndexOutcome:
    """What refreshing the repository's index did for this run (None: it was off)."""

    report: IndexReport | None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"report": self.report.to_json() if self.report else None,
                "notes": list(self.notes)}


@dataclass
class FileReport:
    path: str
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[SkippedStub] = field(default_factory=list)
    error: str = ""
    changed: bool = False
    tests_file: str = ""       # the proof tests written beside the repository's (write_tests)
    tests_note: str = ""       # why they were not


@dataclass
class FillReport:
    files: list[FileReport] = field(default_factory=list)
    check_only: bool = False
    audit_error: str = ""      # the audit log could not take this run's entries
    index: IndexOutcome | None = None   # what refreshing the repo index did

    @property
    def outcomes(self) -> list[Outcome]:
        return [o for f in self.files for o in f.outcomes]

    @property
    def changed_files(self) -> list[str]:
        return [path for f in self.files
                for path in ([f.path] if f.changed else []) + ([f.tests_file] if f.tests_file
                                                               else [])]

    def blocking(self, on_failure: str) -> bool:
        """Whether the commit should stop: a file changed, or a stub failed under `block`."""
        bad = any(o.verdict != "verified" for o in self.outcomes) or any(
            f.error for f in self.files) or bool(self.audit_error)
        return bool(self.changed_files) or (bad and on_failure == "block")

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "index": self.index.to_json() if self.index else None,
            "stubs": [o.to_json() for o in self.outcomes],
            "skipped": [{"file": f.path, "qualname": s.qualname, "line": s.line,
                         "reason": s.reason} for f in self.files for s in f.skipped],
            "file_errors": [{"file": f.path, "error": f.error} for f in self.files if f.error],
            "tests_files": [{"file": f.path, "tests_file": f.tests_file, "note": f.tests_note}
                            for f in self.files if f.tests_file or f.tests_note],
            "changed_files": self.changed_files,
            "check_only": self.check_only,
            "audit_error": self.audit_error,
        }


@dataclass
class _Parts:
    """What filling needs, made on first use so a run with no stubs loads nothing."""

    make_backend: Callable[[], Backend]
    make_sandbox: Callable[[], Sandbox]
    checks: list[Check]
    filler: StubFiller | None = None
    repo: RepoContext | None = None
    env: ProjectEnv | None = None        # given by the caller; else found by the filler

    def get(self, settings: Settings, root: Path, cache_dir: Path,
            progress: Callable[[Event], None] | None) -> StubFiller:
        if self.filler is None:
            sandbox = self.make_sandbox()
            self.filler = StubFiller(self.make_backend(), sandbox, self.checks, settings,
                                     root, cache_dir, progress, self.prepare(settings, root),
                                     _env=(self.env, "") if self.env else None)
        return self.filler

    def prepare(self, settings: Settings, root: Path,
                progress: Callable[[Event], None] | None = None) -> RepoContext:
        """The repo's index, refreshed once, on the first stub and before the model
        loads: indexing wants the cores that generation will need."""
        if self.repo is None:
            self.repo = prepare_repo_context(settings, root)
            if progress:
                progress(_index_event(self.repo))
        return self.repo


def _index_event(repo: RepoContext) -> Event:
    if repo.notes:
        return Event("index", str(repo.root), "", "; ".join(repo.notes))
    if repo.report is None:
        return Event("index", str(repo.root), "", "index off (setting index: false)")
    r = repo.report
    return Event("index", str(repo.root), "",
                 f"index: {r.files} files ({r.parsed} parsed, {r.reused} unchanged, "
                 f"{len(r.skipped)} skipped) in {r.seconds:.2f} s")


def _failed(path: Path, qualname: str, name: str, line: int, reason: str) -> Outcome:
    return Outcome(file=str(path), name=name, qualname=qualname, line=line, verdict="failed",
                   code="", reasons=[reason], checks=[], tests=[], attempts=0, timings={},
                   model="", sandbox="")


def _fill_one(source: SourceFile, stub: Stub, parts: _Parts, settings: Settings, root: Path,
              cache_dir: Path, progress: Callable[[Event], None] | None) -> Outcome:
    path = source.path
    parts.prepare(settings, root, progress)
    if progress:
        progress(Event("start", str(path), stub.qualname, f"line {stub.def_line}"))
    try:
        filler = parts.get(settings, root, cache_dir, progress)
    except CodegenHookError as exc:
        outcome = _failed(path, stub.qualname, stub.name, stub.def_line, str(exc))
    else:
        outcome = filler.fill(source, stub)
    if progress:
        progress(Event("done", str(path), stub.qualname, outcome.verdict))
    return outcome


def _fill_file(path: Path, parts: _Parts, settings: Settings, root: Path, cache_dir: Path,
               check_only: bool, progress: Callable[[Event], None] | None,
               only: Collection[str] | None = None) -> FileReport:
    report = FileReport(str(path))
    try:
        source = SourceFile.read(path)
        scan = find_stubs(source.text, str(path))
    except CodegenHookError as exc:
        report.error = str(exc)
        return report
    report.skipped = scan.skipped
    # Later stubs see the bodies accepted for earlier ones (a method may call another).
    working = source
    done: list[tuple[Stub, Outcome]] = []
    for qualname in [s.qualname for s in scan.stubs if only is None or s.qualname in only]:
        stub = next(s for s in find_stubs(working.text).stubs if s.qualname == qualname)
        outcome = _fill_one(working, stub, parts, settings, root, cache_dir, progress)
        report.outcomes.append(outcome)
        done.append((stub, outcome))
        if outcome.verdict == "verified" or (outcome.verdict == "unverified"
                                             and settings.write_unverified and outcome.body):
            outcome.written = not check_only
            working = dataclasses.replace(working, text=splice_bodies(
                working.text, [(stub, outcome.body)], source.newline))
    if working.text != source.text and not check_only:
        try:
            source.write_text(working.text)
        except CodegenHookError as exc:
            report.error = str(exc)
            for outcome in report.outcomes:
                outcome.written = False
            return report
        report.changed = True
        if settings.write_tests and parts.filler is not None:
            report.tests_file, report.tests_note = _proof_tests(
                parts.filler, settings, root, path, working.text, done)
    return report


def _proof_tests(filler: StubFiller, settings: Settings, root: Path, path: Path, filled: str,
                 done: list[tuple[Stub, Outcome]]) -> tuple[str, str]:
    env, _ = filler.project_env()
    try:
        return write_proof_tests(settings, filler.sandbox, root, path, filled,
                                 [(s, o) for s, o in done if o.written],
                                 env.site if env else ())
    except CodegenHookError as exc:
        return "", f"the proof tests were not written: {exc}"


def fill_paths(paths: Sequence[Path], settings: Settings, root: Path, cache_dir: Path,
               make_backend: Callable[[], Backend], make_sandbox: Callable[[], Sandbox],
               checks: list[Check], check_only: bool = False,
               progress: Callable[[Event], None] | None = None,
               only: Mapping[Path, Collection[str]] | None = None,
               project_env: ProjectEnv | None = None) -> FillReport:
    """Fill every stub in `paths` (.py files; others are ignored); with `only`, just the
    stubs whose qualnames it lists for a path (the CI bot: what a pull request added);
    `project_env`: the packages candidates and tests import, instead of finding them."""
    parts = _Parts(make_backend, make_sandbox, checks, env=project_env)
    report = FillReport(check_only=check_only)
    for path in paths:
        if path.suffix != ".py":
            continue
        wanted = None if only is None else only.get(path, ())
        report.files.append(_fill_file(path, parts, settings, root, cache_dir, check_only,
                                       progress, wanted))
    if parts.repo is not None:
        report.index = IndexOutcome(parts.repo.report, tuple(parts.repo.notes))
    if settings.audit and report.outcomes:
        report.audit_error = record_audit(report, settings, root,
                                          parts.repo.codec if parts.repo else None)
    return report


def _delivery(file: FileReport, outcome: Outcome, check_only: bool) -> str:
    if outcome.written and file.changed:
        return f"written to {file.path}"
    if check_only:
        return "check only: not written"
    return "left as it was"


def record_audit(report: FillReport, settings: Settings, root: Path,
                 codec: EncryptedCodec | None = None) -> str:
    """One audit entry per stub; returns the error if the log could not take them.
    `codec`: the run's, if the index already opened it (a passphrase costs scrypt)."""
    from codegen_hook.security.audit import AuditLog, AuditRecord
    from codegen_hook.security.codec import codec_for

    try:
        log = AuditLog(data_dir(settings) / "audit",
                       codec or codec_for(settings, data_dir(settings)))
        for file in report.files:
            for o in file.outcomes:
                log.append(AuditRecord(
                    repository=str(root), file=o.file, qualname=o.qualname,
                    stub_sha256=o.stub_sha256, model=o.model, model_sha256=o.model_sha256,
                    sandbox=o.sandbox, checks=settings.checks, findings=len(o.checks),
                    redactions=sum(o.redactions.values()), verdict=o.verdict,
                    delivery=_delivery(file, o, report.check_only)))
    except CodegenHookError as exc:
        return f"the audit log could not record this run: {exc}"
    return ""
