"""The CI bot's run: the stubs a change adds, filled as `fill` fills them, then delivered.

Delivery modes: `review` (suggestions and a summary on the pull / merge request),
`commit` (one commit on the PR branch, pushed without force; no push rights falls
back to review, or to patch without a forge), `patch` (a format-patch file only).
Whatever the mode, the patch, the JSON report and the summary are written to the
output folder first, so the filled code survives a forge that is down.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from codegen_hook.atomic import write_atomic
from codegen_hook.backends.base import Backend
from codegen_hook.checks.base import Check
from codegen_hook.ci.changes import (ChangeSet, changed_stubs, ensure_checked_out,
                                     open_repository, resolve_commit)
from codegen_hook.ci.deliver import PushRefused, commit_files, format_patch, push_commit
from codegen_hook.ci.review import build_review, relative, render_summary
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError, ForgeError
from codegen_hook.forges.base import Forge, Published
from codegen_hook.isolation.base import Sandbox
from codegen_hook.pipeline.outcome import Event, Outcome
from codegen_hook.pipeline.run import FillReport, fill_paths

__all__ = ["MODES", "CiOptions", "CiResult", "run_ci"]

MODES = ("review", "commit", "patch")
PATCH_NAME = "codegen-hook.patch"
REPORT_NAME = "codegen-hook-report.json"
SUMMARY_NAME = "summary.md"


@dataclass(frozen=True)
class CiOptions:
    base: str
    head: str
    mode: str = "review"
    all_stubs: bool = False
    out_dir: Path = Path("codegen-hook-out")
    author: tuple[str, str] = ("codegen-hook", "codegen-hook@users.noreply.invalid")
    message: str = "Fill stubs with codegen-hook"
    remote: str = "origin"
    branch: str = ""                 # commit mode: the PR's branch on the remote
    token: str = ""                  # commit mode: for the push (never printed)
    push_username: str = "x-access-token"


@dataclass
class CiResult:
    mode: str                        # the mode actually used (after any fallback)
    changes: ChangeSet
    report: FillReport | None
    outcomes: list[tuple[str, Outcome]]
    summary: str
    seconds: float
    notes: list[str] = field(default_factory=list)     # fallbacks, skipped files
    patch_path: Path | None = None
    report_path: Path | None = None
    summary_path: Path | None = None
    commit: str = ""
    published: Published | None = None
    error: str = ""                  # delivery failed after the artifacts were written

    def counts(self) -> dict[str, int]:
        verdicts = [o.verdict for _, o in self.outcomes]
        return {v: verdicts.count(v) for v in ("verified", "unverified", "failed")}

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "base": self.changes.base_sha, "head": self.changes.head_sha,
            "merge_base": self.changes.merge_base_sha, "seconds": round(self.seconds, 3),
            "counts": self.counts(), "notes": self.notes, "error": self.error,
            "commit": self.commit,
            "patch": str(self.patch_path) if self.patch_path else "",
            "skipped_files": [{"path": p, "why": w} for p, w in self.changes.skipped],
            "stubs": [{"path": rel, **o.to_json()} for rel, o in self.outcomes],
            "published": None if self.published is None else {
                "summary_url": self.published.summary_url,
                "summary_updated": self.published.summary_updated,
                "review_url": self.published.review_url,
                "comments": self.published.comments, "skipped": self.published.skipped},
        }


def _filled_files(root: Path, report: FillReport) -> dict[str, bytes]:
    return {relative(f.path, root): Path(f.path).read_bytes() for f in report.files
            if f.changed}


def _restore(root: Path, originals: dict[str, bytes]) -> None:
    for rel, data in originals.items():
        write_atomic(root / rel, data)


def run_ci(root: Path, settings: Settings, options: CiOptions, *, cache_dir: Path,
           make_backend: Callable[[], Backend], make_sandbox: Callable[[], Sandbox],
           checks: list[Check], make_forge: Callable[[], Forge] | None,
           progress: Callable[[Event], None] | None = None) -> CiResult:
    """Find, fill, write the artifacts, deliver. Raises for a state it cannot work from
    (GitError, ConfigError); a forge or push failure after the fill is `result.error`."""
    if options.mode not in MODES:
        raise ConfigError(f"mode {options.mode!r}: use one of {', '.join(MODES)}")
    if options.mode == "commit" and not options.branch:
        raise ConfigError("commit mode needs --branch (the pull request's branch); in "
                          "GitHub Actions pass ${{ github.head_ref }}")
    if options.mode == "review" and make_forge is None:
        raise ConfigError("review mode needs a forge (--forge github|gitlab, from the CI "
                          "environment); use --mode patch to only write the patch")
    start = time.perf_counter()
    changes = changed_stubs(root, options.base, options.head, all_stubs=options.all_stubs)
    head = ensure_checked_out(root, changes.head_sha)
    notes = [f"skipped {path}: {why}" for path, why in changes.skipped]
    report: FillReport | None = None
    outcomes: list[tuple[str, Outcome]] = []
    originals: dict[str, bytes] = {}
    if changes.stubs:
        paths = changes.paths(root)
        originals = {relative(p, root): p.read_bytes() for p in paths}
        # CI never writes code that was not verified, whatever the repository's config says
        settings = _ci_settings(settings)
        report = fill_paths(paths, settings, root, cache_dir, make_backend, make_sandbox,
                            checks, progress=progress, only=changes.only(root))
        outcomes = [(relative(o.file, root), o) for o in report.outcomes]
    filled = _filled_files(root, report) if report else {}
    result = CiResult(options.mode, changes, report, outcomes, "", 0.0, notes)
    commit = ""
    if filled:
        commit = commit_files(root, head, filled, author=options.author,
                              message=_commit_message(options.message, outcomes))
        result.commit = commit
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    if commit:
        result.patch_path = out / PATCH_NAME
        write_atomic(result.patch_path,
                     format_patch(root, commit).encode("utf-8", "surrogateescape"))
    if options.mode == "commit" and commit:
        try:
            push_commit(root, commit, remote=_push_target(root, options.remote),
                        branch=options.branch,
                        expected_remote_head=head, token=options.token or None,
                        username=options.push_username)
        except PushRefused as exc:
            result.mode = "review" if make_forge is not None else "patch"
            notes.append(f"could not push to {options.branch} ({exc}); delivered as "
                         f"{result.mode} instead")
    if result.mode != "commit" and commit:
        _back_to(root, head, originals)   # the checkout stays at head, clean
        for _, outcome in outcomes:
            outcome.written = False       # the code is in the patch and the review only
    result.seconds = time.perf_counter() - start
    result.summary = render_summary(outcomes, mode=result.mode, model=_model(outcomes),
                                    sandbox=_sandbox(outcomes), seconds=result.seconds,
                                    notes=notes)
    _write_artifacts(result, out)
    if result.mode == "review" and make_forge is not None and outcomes:
        stub_lines = {(s.path, s.qualname): (s.start_line, s.end_line) for s in changes.stubs}
        review = build_review(outcomes, stub_lines, summary=result.summary,
                              base_sha=changes.base_sha, head_sha=changes.head_sha)
        try:
            result.published = make_forge().publish(review)
        except (ForgeError, ConfigError) as exc:
            result.error = (f"{exc}; the filled code is in {result.patch_path or out} "
                            "and the report beside it")
        _write_artifacts(result, out)   # again, with what the forge did
    return result


def _push_target(root: Path, remote: str) -> str:
    """The remote's URL without credentials in it (GitLab CI puts the job token there,
    which may not push): the token goes through the credentials callback instead."""
    repo = open_repository(root)
    url = repo.remotes[remote].url if remote in repo.remotes.names() else remote
    parts = urlsplit(url or remote)
    if parts.scheme in ("http", "https") and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return remote


def _ci_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, write_unverified=False)


def _back_to(root: Path, head: str, originals: dict[str, bytes]) -> None:
    """commit_files moved HEAD (or its branch) to the new commit; review and patch leave
    the checkout as the job found it: at head, files as they were, index clean."""
    repo = open_repository(root)
    commit = resolve_commit(repo, head, "head")
    if repo.head_is_detached:
        repo.set_head(commit.id)
    else:
        repo.references[repo.head.name].set_target(commit.id)
    _restore(root, originals)
    repo.index.read_tree(commit.tree)
    repo.index.write()


def _commit_message(title: str, outcomes: Sequence[tuple[str, Outcome]]) -> str:
    lines = [title, ""]
    for rel, o in outcomes:
        if o.verdict == "verified":
            tests = f"{sum(t.passed for t in o.tests)}/{len(o.tests)}"
            lines.append(f"- {rel}::{o.qualname}: verified ({tests} docstring tests, "
                         f"checks clean, sandbox {o.sandbox}, model {o.model})")
    return "\n".join(lines) + "\n"


def _model(outcomes: Sequence[tuple[str, Outcome]]) -> str:
    return outcomes[0][1].model if outcomes else "-"


def _sandbox(outcomes: Sequence[tuple[str, Outcome]]) -> str:
    return outcomes[0][1].sandbox if outcomes else "-"


def _write_artifacts(result: CiResult, out: Path) -> None:
    result.report_path = out / REPORT_NAME
    result.summary_path = out / SUMMARY_NAME
    write_atomic(result.report_path, json.dumps(result.to_json(), indent=2).encode())
    write_atomic(result.summary_path, result.summary.encode())
