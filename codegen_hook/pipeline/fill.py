"""The fill of one stub, as named stages over typed records, read top to bottom.

spec (what the stub promises) -> generate (asks to the backend) -> prepare (compose
and compile each body, never run it) -> evidence (one sandbox run: every candidate x
every test) -> select (rank, agree, check, pick; pipeline/select.py decides the
verdict) -> another round (a repair and fresh samples) or the Outcome (report).
Every candidate is untrusted: it is parsed and linted here, and run only in the sandbox.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from codegen_hook.backends.base import Backend, Message
from codegen_hook.checks.base import Check
from codegen_hook.config import Settings
from codegen_hook.errors import CodegenHookError
from codegen_hook.isolation.base import Sandbox
from codegen_hook.pipeline import select
from codegen_hook.pipeline.context import RepoContext
from codegen_hook.pipeline.evidence import CheckPlace, run_untrusted_tests
from codegen_hook.pipeline.generate import TestsAsk, budget_spent, first_asks, generate, later_asks
from codegen_hook.pipeline.generated import (merge_tests, model_tests_messages,
                                             parse_model_tests, tests_prefix)
from codegen_hook.pipeline.outcome import Event, EventKind, Outcome, outcome_of
from codegen_hook.pipeline.prepare import prepare_untrusted
from codegen_hook.pipeline.probes import probe_tests
from codegen_hook.pipeline.environment import ProjectEnv
from codegen_hook.pipeline.repo_evidence import (RepoEvidence, gather_repo_tests, run_repo_tests,
                                                 sandbox_environment)
from codegen_hook.pipeline.prompts import (answer_prefix, redact_messages, repair_messages,
                                           stub_messages)
from codegen_hook.pipeline.spec import SpecTest, spec_tests
from codegen_hook.pipeline.timings import FillTimes
from codegen_hook.security.redact import redact_secrets
from codegen_hook.stubs import SourceFile, Stub, filled_function

__all__ = ["StubFiller"]


@dataclass
class StubFiller:
    """Fills one stub at a time with a backend, checks and a sandbox."""

    backend: Backend
    sandbox: Sandbox
    checks: list[Check]
    settings: Settings
    root: Path
    cache_dir: Path
    progress: Callable[[Event], None] | None = None
    repo: RepoContext | None = None
    _env: tuple[ProjectEnv | None, str] | None = None

    def fill(self, source: SourceFile, stub: Stub) -> Outcome:
        """Run the stages for `stub` and return its Outcome; never raises for the code's
        own failures (those are reasons), only for broken configuration."""
        times, start = FillTimes(), time.perf_counter()
        related, hits = self.repo.for_stub(source.path, stub) if self.repo else ("", [])
        times.add("retrieve_s", time.perf_counter() - start)
        base, redactions = redact_messages(stub_messages(stub, source.text, source.path,
                                                         related))
        fill = _Fill(base, redactions, stated=spec_tests(stub),
                     policy=select.Policy.from_settings(self.settings))
        fill.tests = list(fill.stated)
        try:
            env, env_problem = self.project_env()
            fill.site = env.site if env else ()
            with times.timed("repo_tests_s"):
                fill.repo = gather_repo_tests(self.settings, self.sandbox, self.root,
                                              source.path, stub, source.text, env,
                                              env_problem)
            if fill.repo.problem:
                fill.notes.append(fill.repo.problem)
            for round_no in range(1, self.settings.max_rounds + 1):
                if round_no > 1 and (spent := budget_spent(self.settings,
                                                           times["repair_tokens"], start)):
                    fill.notes.append(spent)
                    break
                if not self._round(round_no, source, stub, fill, times):
                    break
        except CodegenHookError as exc:
            fill.notes.insert(0, str(exc))
        times.add("total_s", time.perf_counter() - start)
        decision = select.decide(fill.choice, fill.tests, fill.policy, fill.notes)
        cand = fill.choice.candidates[decision.chosen] if decision.chosen is not None else None
        return outcome_of(
            fill.choice, decision, fill.tests, method=self.settings.ranking,
            code=filled_function(cand.module, stub, cand.body) if cand and cand.body else "",
            file=str(source.path), name=stub.name, qualname=stub.qualname,
            line=stub.def_line, timings=times.values, model=self.backend.describe(),
            sandbox=self.sandbox.name,
            retrieved=[f"{h.path}::{h.symbol.qualname}" for h in hits],
            redactions=dict(fill.redactions),
            stub_sha256=hashlib.sha256(stub.source.encode()).hexdigest(),
            model_sha256=str(getattr(self.backend, "model_sha256", "")),
            repo_tests=fill.repo.node_ids, notes=fill.repo.notes + self._env_notes())

    def _round(self, round_no: int, source: SourceFile, stub: Stub, fill: "_Fill",
               times: FillTimes) -> bool:
        """One round: generate, prepare, test, select; whether another round may help."""
        cfg = self.settings
        asks = first_asks(cfg, fill.base) if round_no == 1 else later_asks(
            cfg, round_no, fill.base, fill.repair,
            cfg.alternatives > 0 and select.needs_alternative(fill.choice, fill.tests,
                                                              fill.policy))
        if not asks:   # nothing to repair, and no fresh samples configured
            return False
        self._event("round", source.path, stub, f"round {round_no}")
        ask_tests = round_no == 1 and cfg.generated_tests and not stub.is_method
        prefix = redact_secrets(answer_prefix(stub)).text   # the stub's lines start answers
        made = generate(self.backend, cfg, asks, prefix, round_no=round_no,
                        first_index=len(fill.choice.candidates),
                        tests=self._tests_ask(stub) if ask_tests else None)
        times.count(made, repair=round_no > 1, tests=ask_tests)
        if made.tests_text:
            fill.tests = merge_tests(fill.stated, parse_model_tests(
                made.tests_text, stub.name, cfg.max_generated_tests))
        if round_no == 1 and not stub.is_method:
            fill.tests += probe_tests(fill.tests, stub.name, cfg.probe_tests)
        new = [prepare_untrusted(c, source.text, source.path, stub) for c in made.candidates]
        with times.timed("sandbox_s", any(c.module and not c.problem for c in new)):
            new = run_untrusted_tests(self.sandbox, new, source.path, stub, fill.tests,
                                      timeout=cfg.timeout, memory_mb=cfg.memory_mb,
                                      site=fill.site)
        with times.timed("repo_tests_s", bool(fill.repo.tests)):
            new = run_repo_tests(self.sandbox, new, self.root, source.path, fill.repo, cfg)
        place = CheckPlace(source.path, self.root, self.cache_dir, stub.ellipsis_line,
                           tuple(t.call for t in fill.tests if t.stated),
                           self.repo.style if self.repo else None)
        fill.choice = select.choose([*fill.choice.candidates, *new], fill.tests, fill.policy,
                                    lambda c: times.check(self.checks, c, place))
        if fill.choice.winner is not None:
            return False
        best = min((fill.choice.candidates[r.index] for r in fill.choice.ranking),
                   key=lambda c: select.badness(c, fill.tests))
        fill.repair = None
        if feedback := select.feedback(best, fill.tests):   # something a repair can address
            fill.repair, found = redact_messages(repair_messages(fill.base, best.answer,
                                                                 feedback))
            fill.redactions.update(found)
        return True

    def project_env(self) -> tuple[ProjectEnv | None, str]:
        """The project's environment, found once a run (it costs a sandbox start)."""
        if self._env is None:
            try:
                self._env = (sandbox_environment(self.settings, self.root, self.sandbox), "")
            except CodegenHookError as exc:
                self._env = (None, str(exc))
        return self._env

    def _env_notes(self) -> tuple[str, ...]:
        env, problem = self.project_env()
        if env is None:
            return (f"candidates ran without the project's packages: {problem}",)
        return (f"the project's packages: {', '.join(map(str, env.site))} ({env.where})",)

    def _tests_ask(self, stub: Stub) -> TestsAsk:
        """The model's tests of `stub`, asked apart from the code (the model never sees
        its tests and code together)."""
        asked, _ = redact_messages(model_tests_messages(stub, self.settings.max_generated_tests))
        return TestsAsk(tuple(asked), tests_prefix(stub))

    def _event(self, kind: EventKind, path: Path, stub: Stub, message: str) -> None:
        if self.progress:
            self.progress(Event(kind, str(path), stub.qualname, message))


@dataclass
class _Fill:
    """What one fill has gathered so far; the rounds add to it."""

    base: list[Message]                 # the stub's prompt, redacted
    redactions: Counter[str]            # secrets kept out of every prompt
    stated: list[SpecTest]              # the user's tests (spec stage)
    policy: select.Policy
    tests: list[SpecTest] = field(default_factory=list)   # + the model's, + probes
    choice: select.Choice = select.Choice((), (), None)
    repair: list[Message] | None = None  # the next round's repair prompt
    notes: list[str] = field(default_factory=list)        # reasons that lead the report
    repo: RepoEvidence = RepoEvidence()   # the repository's tests of the stub
    site: tuple[Path, ...] = ()           # the project's packages, bound into the sandbox
