"""The loop for one stub: generate, check, test in the sandbox, repair, decide.

Every candidate is untrusted: it is parsed and linted here, and run only in the
sandbox. Code is verified only when it passed every check and every example,
and no example it passes is one that all independent candidates disagreed with.
"""

from __future__ import annotations

import ast
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codegen_hook.backends.base import Backend, CompletionRequest, Message
from codegen_hook.checks.base import Check, CheckContext
from codegen_hook.checks.style import StyleCheck
from codegen_hook.config import Settings
from codegen_hook.errors import CodegenHookError
from codegen_hook.isolation.base import Sandbox
from codegen_hook.pipeline.examples import (docstring_examples, examples_job,
                                            read_example_results)
from codegen_hook.pipeline.context import RepoContext
from codegen_hook.pipeline.extract import ExtractedCode, extract_body
from codegen_hook.pipeline.outcome import Candidate, Event, Outcome, OutcomeVerdict
from codegen_hook.pipeline.prompts import repair_messages, stub_messages
from codegen_hook.security.redact import redact_secrets
from codegen_hook.stubs import SourceFile, Stub, splice_bodies, split_lines_keepends

__all__ = ["StubFiller", "compose_body"]


def _import_keys(text: str) -> set[str]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    return {ast.dump(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))}


def _names_used(code: str) -> set[str]:
    try:
        tree = ast.parse("def _():\n" + "\n".join("    " + ln for ln in code.split("\n")))
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _needed(statement: str, used: set[str]) -> bool:
    node = ast.parse(statement).body[0]
    assert isinstance(node, (ast.Import, ast.ImportFrom))
    if any(alias.name == "*" for alias in node.names):
        return False  # a star import cannot be local; the code must name what it uses
    return any((alias.asname or alias.name.split(".")[0]) in used for alias in node.names)


def compose_body(extracted: ExtractedCode, module_text: str) -> str:
    """Imports the module lacks and helpers become local statements before the body,
    so nothing outside the stub's own lines changes. Unused imports are dropped."""
    have = _import_keys(module_text)
    used = _names_used("\n".join([*extracted.helpers, extracted.body]))
    missing = [imp for imp in extracted.imports
               if ast.dump(ast.parse(imp).body[0]) not in have and _needed(imp, used)]
    if not extracted.helpers:
        return "\n".join([*missing, extracted.body])
    # pycodestyle wants a blank line before a nested definition (E306)
    head = ["\n".join(missing)] if missing else []
    return "\n\n".join([*head, *extracted.helpers, extracted.body])


def _feedback(candidate: Candidate) -> str:
    if candidate.problem:
        return candidate.problem
    lines: list[str] = []
    if candidate.examples is not None and candidate.examples.problem:
        lines.append(candidate.examples.problem)
    for result in candidate.examples.results if candidate.examples else ():
        if result.passed:
            continue
        call = result.source.strip()
        if result.error:
            lines.append(f"{call} raised:\n{result.error.strip()[-800:]}")
        else:
            lines.append(f"{call} returned {result.got.strip() or '(nothing)'}, "
                         f"expected {result.want.strip()}")
    lines += [finding.render() for finding in candidate.blocking_findings]
    return "\n".join(lines)


def _disputed_examples(first_round: list[Candidate]) -> dict[str, str]:
    """Examples that every independent candidate (at least two) answered alike and
    differently from the docstring: the example itself may be wrong."""
    answers: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for cand in first_round:
        if cand.examples is None or cand.examples.problem:
            continue
        for result in cand.examples.results:
            if result.error:
                continue
            key = result.source.strip()
            counts[key] = counts.get(key, 0) + (0 if result.passed else 1)
            answers.setdefault(key, set()).add(result.got.strip() if not result.passed else "=")
    ran = [c for c in first_round if c.examples is not None and not c.examples.problem]
    return {key: next(iter(got)) for key, got in answers.items()
            if len(ran) >= 2 and counts[key] == len(ran) and len(got) == 1}


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
    _timings: dict[str, float] = field(default_factory=dict)

    def _event(self, kind: str, path: Path, stub: Stub, message: str) -> None:
        if self.progress:
            self.progress(Event(kind, str(path), stub.qualname, message))

    def _tick(self, key: str, since: float) -> None:
        self._timings[key] = self._timings.get(key, 0.0) + time.perf_counter() - since

    def _generate(self, messages: list[Message], n: int, temperature: float,
                  seed: int) -> list[str]:
        start = time.perf_counter()
        completion = self.backend.complete(CompletionRequest(
            tuple(messages), n=n, temperature=temperature,
            max_tokens=self.settings.max_tokens, seed=seed))
        self._tick("generate_s", start)
        self._timings["completion_tokens"] = (self._timings.get("completion_tokens", 0)
                                              + completion.completion_tokens)
        return completion.texts

    def _evaluate(self, cand: Candidate, source: SourceFile, stub: Stub) -> None:
        extracted = extract_body(cand.answer, stub.name)
        if extracted is None:
            cand.problem = (f"the answer held no usable body for `{stub.name}`; answer with "
                            f"the complete function `{stub.name}` in one ```python block")
            return
        cand.body = compose_body(extracted, source.text)
        cand.spliced = splice_bodies(source.text, [(stub, cand.body)], "\n")
        try:  # compile, never run: catches what ast.parse lets through
            compile(cand.spliced, str(source.path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            cand.problem = f"the function does not compile: {exc}"
            return
        start = time.perf_counter()
        job, marker = examples_job(stub, source.path, cand.spliced, self.settings.timeout,
                                   self.settings.memory_mb)
        cand.examples = read_example_results(self.sandbox.run(job), marker)
        self._tick("sandbox_s", start)
        first = stub.ellipsis_line
        context = CheckContext(
            path=source.path, root=self.root, first_line=first,
            last_line=first + cand.body.strip("\n").count("\n"), cache_dir=self.cache_dir,
            example_sources=tuple(e.source for e in docstring_examples(stub)),
            style=self.repo.style if self.repo else None)
        start = time.perf_counter()
        for check in self.checks:
            # Static tools cost seconds; run them only on a body that passes its tests.
            if check.name != "examples" and (cand.failed_examples or cand.examples.problem):
                continue
            if isinstance(check, StyleCheck):  # its score goes into the report too
                scored = check.score(cand.spliced, context)
                cand.findings += scored.findings
                cand.style_score = scored.score
            else:
                cand.findings += check.run(cand.spliced, context)
        self._tick("checks_s", start)

    def _round(self, messages: list[Message], round_no: int, n: int, source: SourceFile,
               stub: Stub, tried: list[Candidate]) -> Candidate | None:
        seed = self.settings.seed + 1000 * round_no
        plan = [(self.settings.temperature, 1)]
        if n > 1:
            plan.append((self.settings.sample_temperature, n - 1))
        for temperature, count in plan:
            for offset, text in enumerate(self._generate(messages, count, temperature, seed)):
                cand = Candidate(round_no, len(tried), temperature, seed + offset, text)
                tried.append(cand)
                self._evaluate(cand, source, stub)
                if cand.passed_everything:
                    return cand
            seed += count
        return None

    def fill(self, source: SourceFile, stub: Stub) -> Outcome:
        """Run the loop for `stub` and return its Outcome; never raises for the code's
        own failures (those are reasons), only for broken configuration."""
        self._timings = {}
        start = time.perf_counter()
        related, hits = self.repo.for_stub(source.path, stub) if self.repo else ("", [])
        self._tick("retrieve_s", start)
        base, redactions = _redacted(stub_messages(stub, source.text, source.path, related))
        tried: list[Candidate] = []
        winner: Candidate | None = None
        error = ""
        messages = base
        try:
            for round_no in range(1, self.settings.max_rounds + 1):
                self._event("round", source.path, stub, f"round {round_no}")
                n = self.settings.candidates if round_no == 1 else 1
                winner = self._round(messages, round_no, n, source, stub, tried)
                if winner is not None:
                    break
                best = min(tried, key=Candidate.badness)
                feedback = _feedback(best)
                if not feedback:  # nothing failed that a repair could address
                    break
                messages, found = _redacted(repair_messages(base, best.answer, feedback))
                redactions.update(found)
        except CodegenHookError as exc:
            error = str(exc)
        self._timings["total_s"] = time.perf_counter() - start
        outcome = self._outcome(source, stub, tried, winner, error)
        outcome.retrieved = [f"{h.path}::{h.symbol.qualname}" for h in hits]
        outcome.redactions = dict(redactions)
        outcome.stub_sha256 = hashlib.sha256(stub.source.encode()).hexdigest()
        outcome.model_sha256 = str(getattr(self.backend, "model_sha256", ""))
        return outcome

    def _outcome(self, source: SourceFile, stub: Stub, tried: list[Candidate],
                 winner: Candidate | None, error: str) -> Outcome:
        reasons: list[str] = [error] if error else []
        chosen = winner or (min(tried, key=Candidate.badness) if tried else None)
        verdict: OutcomeVerdict = "verified" if winner else "unverified"
        if chosen is not None and winner is not None:
            disputed = _disputed_examples([c for c in tried if c.round == 1])
            for result in chosen.examples.results if chosen.examples else ():
                got = disputed.get(result.source.strip())
                if got is not None and result.passed:
                    verdict = "unverified"
                    reasons.append(
                        f"the docstring says {result.source.strip()} is "
                        f"{result.want.strip()}, but every independently generated "
                        f"candidate computed {got}; check that example")
        if chosen is None or not chosen.body:
            verdict = "failed"
        elif winner is None:
            reasons.append(_unverified_reason(chosen))
        if chosen is not None and chosen.problem and not chosen.body:
            reasons.append(chosen.problem)
        code = _function_text(chosen.spliced, stub, chosen.body) if chosen and chosen.body else ""
        return Outcome(
            file=str(source.path), name=stub.name, qualname=stub.qualname,
            line=stub.def_line, verdict=verdict, code=code, reasons=reasons,
            checks=chosen.findings if chosen else [],
            tests=[_test_json(r) for r in (chosen.examples.results
                                           if chosen and chosen.examples else ())],
            attempts=len(tried), timings=dict(self._timings),
            model=self.backend.describe(), sandbox=self.sandbox.name,
            body=chosen.body if chosen else "",
            style_score=chosen.style_score if chosen else None,
            candidates=[_candidate_json(c) for c in tried])


def _redacted(messages: list[Message]) -> tuple[list[Message], Counter[str]]:
    """The messages with credentials replaced by placeholders, and how many of each kind:
    repository code (and what the sandbox printed about it) reaches the model only so."""
    kinds: Counter[str] = Counter()
    out = []
    for message in messages:
        result = redact_secrets(message.content)
        kinds.update(result.kinds())
        out.append(Message(message.role, result.text) if result.count else message)
    return out, kinds


def _unverified_reason(cand: Candidate) -> str:
    if cand.problem:
        return cand.problem
    if cand.examples is not None and not cand.examples.problem and not cand.examples.results:
        return ("the docstring has no examples (`>>>` lines) to test the code against; "
                "add one so the hook can verify it")
    feedback = _feedback(cand)
    return f"no candidate passed every check and example; the closest one:\n{feedback}"


def _function_text(spliced: str, stub: Stub, body: str) -> str:
    lines = split_lines_keepends(spliced)
    end = stub.end_line + body.count("\n")
    return "".join(lines[stub.start_line - 1:end])


def _test_json(result: Any) -> dict[str, Any]:
    return {"source": result.source, "want": result.want, "got": result.got,
            "passed": result.passed, "error": result.error}


def _candidate_json(cand: Candidate) -> dict[str, Any]:
    return {"round": cand.round, "index": cand.index, "temperature": cand.temperature,
            "seed": cand.seed, "problem": cand.problem,
            "failed_examples": cand.failed_examples, "findings": len(cand.findings),
            "sandbox_verdict": cand.examples.run.verdict if cand.examples else None}
