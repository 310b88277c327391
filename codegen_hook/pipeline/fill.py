"""The loop for one stub: generate, check, test in the sandbox, repair, decide.

Every candidate is untrusted: it is parsed and linted here, and run only in the
sandbox. Code is verified only when it passed every check and every example,
and no example it passes is one that all independent candidates disagreed with.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import sys
import textwrap
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
from codegen_hook.pipeline.context import RepoContext
from codegen_hook.pipeline.examples import Example, ExampleRun, docstring_examples
from codegen_hook.pipeline.extract import ExtractedCode, extract_body
from codegen_hook.pipeline.generated import (merge_tests, model_tests_messages,
                                             parse_model_tests, tests_prefix)
from codegen_hook.pipeline.matrix import TestResult, as_example_run, matrix_job, read_matrix
from codegen_hook.pipeline.outcome import Candidate, Event, Outcome, OutcomeVerdict
from codegen_hook.pipeline.probes import probe_tests
from codegen_hook.pipeline.prompts import answer_prefix, repair_messages, stub_messages
from codegen_hook.pipeline.rank import rank_by_agreement, rank_in_order
from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.pipeline.stated import stated_tests
from codegen_hook.security.redact import redact_secrets
from codegen_hook.stubs import SourceFile, Stub, filled_function, splice_bodies

__all__ = ["STOP", "StubFiller", "compose_body", "spec_tests"]

_CHECKED_PER_ROUND = 3   # static checks cost seconds: at most this many new candidates a round
# Both prompts ask for one fenced block: what follows its closing fence is chatter
# that costs decode time (the extractor copes with the fence cut off).
STOP = ("\n```\n",)
_TESTS_TOKENS = 384      # the model's tests: ten assert lines fit
_PER_TEST_S = 3.0        # one test's limit; a hanging candidate costs this per test
_REPAIR_CANDIDATES = 2   # texts per repair round (one greedy, one sampled), in one batch


def _import_keys(module: ast.Module) -> set[str]:
    return {ast.dump(node) for node in module.body
            if isinstance(node, (ast.Import, ast.ImportFrom))}


def _parsed(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def _as_function(code: str) -> ast.Module | None:
    """Statements (a body, its helpers) parsed as the body of a function."""
    return _parsed("def _():\n" + "\n".join("    " + ln for ln in code.split("\n")))


def _needed(statement: str, used: set[str]) -> bool:
    node = ast.parse(statement).body[0]
    assert isinstance(node, (ast.Import, ast.ImportFrom))
    if any(alias.name == "*" for alias in node.names):
        return False  # a star import cannot be local; the code must name what it uses
    return any((alias.asname or alias.name.split(".")[0]) in used for alias in node.names)


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name `tree` binds anywhere: assignments, parameters, definitions, imports."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def _unimported_modules(tree: ast.Module, module: ast.Module, imports: list[str]) -> list[str]:
    """`import m` for each standard-library module the code (`tree`, from _as_function)
    uses by name (`hashlib.md5`) that nothing binds: not the module, the code, its
    imports, nor a builtin. An answer that starts after the stub's docstring
    (answer_prefix) has no place above the `def` for its imports, and the model often
    leaves them out."""
    loaded = {node.id for node in ast.walk(tree)
              if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    bound = _bound_names(tree) | _bound_names(module) | set(dir(builtins))
    bound |= {(a.asname or a.name).split(".")[0] for imp in imports
              for node in ast.parse(imp).body if isinstance(node, (ast.Import, ast.ImportFrom))
              for a in node.names}
    return [f"import {name}" for name in sorted(loaded - bound)
            if name in sys.stdlib_module_names and not name.startswith("_")]


def compose_body(extracted: ExtractedCode, module_text: str) -> str:
    """Imports the module lacks and helpers become local statements before the body,
    so nothing outside the stub's own lines changes. Unused imports are dropped;
    standard-library modules used but never imported are imported."""
    module = _parsed(module_text)   # the user's file, parsed once for both questions
    have = _import_keys(module) if module is not None else set()
    tree = _as_function("\n".join([*extracted.helpers, extracted.body]))
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree else set()
    missing = [imp for imp in extracted.imports
               if ast.dump(ast.parse(imp).body[0]) not in have and _needed(imp, used)]
    if tree is not None and module is not None:
        missing += _unimported_modules(tree, module, list(extracted.imports))
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


def _disputed_examples(independent: list[Candidate]) -> dict[str, str]:
    """Examples that every independent candidate (at least two) answered alike and
    differently from the docstring: the example itself may be wrong."""
    answers: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for cand in independent:
        if not cand.ran or cand.examples is None:
            continue
        for result in cand.examples.results:
            if result.error:
                continue
            key = result.source.strip()
            counts[key] = counts.get(key, 0) + (0 if result.passed else 1)
            answers.setdefault(key, set()).add(result.got.strip() if not result.passed else "=")
    ran = [c for c in independent if c.ran]
    return {key: next(iter(got)) for key, got in answers.items()
            if len(ran) >= 2 and counts[key] == len(ran) and len(got) == 1}


def _param_names(stub: Stub) -> list[str]:
    try:
        tree = ast.parse(textwrap.dedent(stub.source) + "\n")
    except SyntaxError:
        return []
    func = tree.body[0] if tree.body else None
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    args = func.args
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    return names[1:] if stub.is_method and names[:1] in (["self"], ["cls"]) else names


def spec_tests(stub: Stub) -> list[SpecTest]:
    """The user's own tests of `stub`: its doctest examples, then what the docstring
    states in free form (`f(x) => y`, "For example ...") on calls doctest did not make."""
    examples = doctest_session(docstring_examples(stub))
    if stub.is_method:   # a free-form `obj.m(x)` has no object to call it on
        return examples
    return merge_tests(examples, stated_tests(stub.docstring, stub.name, _param_names(stub)))


def _shape(source: str) -> str:
    """"setup" (a statement that sets up later examples), "assert", "compare" (a lone
    comparison, `f(x) == y`), "expression", or "" when it does not parse."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return ""
    if len(body) == 1 and isinstance(body[0], ast.Assert):
        return "assert"
    if not (len(body) == 1 and isinstance(body[0], ast.Expr)):
        return "setup"
    return "compare" if isinstance(body[0].value, ast.Compare) else "expression"


def doctest_session(examples: list[Example]) -> list[SpecTest]:
    """The docstring's examples as tests that share a namespace, as in doctest: a
    statement with no output (`def div(a, b): ...`, `x = f(2)`) is no test of its own
    but runs before each later example (its `setup`). Written as checks but with no
    output line, `>>> f(x) == y` wants True (the writer meant the comparison to hold,
    as HumanEval/108's docstring does) and `>>> assert f(x) == y` is a test that wants
    no output."""
    tests: list[SpecTest] = []
    earlier: list[str] = []
    for e in examples:
        want = e.want
        if not want.strip():
            shape = _shape(e.source)
            if shape == "setup":
                earlier.append(e.source)
                continue
            if shape == "compare":
                want = "True\n"
        tests.append(SpecTest(e.source, want, "docstring", "doctest", e.line,
                              setup=tuple(earlier)))
    return tests


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

    def _count(self, key: str, amount: float) -> None:
        self._timings[key] = self._timings.get(key, 0.0) + amount

    def _request(self, messages: list[Message], schedule: list[tuple[float, int | None]],
                 max_tokens: int, prefix: str = "") -> CompletionRequest:
        return CompletionRequest(
            tuple(messages), n=len(schedule), temperature=schedule[0][0],
            max_tokens=max_tokens, seed=schedule[0][1], schedule=tuple(schedule),
            stop=STOP, prefix=prefix if self.settings.answer_prefix else "")

    def _generate(self, asks: list[tuple[list[Message], list[tuple[float, int | None]]]],
                  prefix: str, tests_for: Stub | None = None) -> tuple[list[list[str]], str]:
        """The texts for each ask (messages, schedule), all in one call so a batching
        backend decodes them together; with `tests_for`, the model's tests of that stub
        too, asked apart from the code (the model never sees its tests and code together)."""
        requests = [self._request(messages, schedule, self.settings.max_tokens, prefix)
                    for messages, schedule in asks]
        if tests_for is not None:
            asked, _ = _redacted(model_tests_messages(tests_for,
                                                      self.settings.max_generated_tests))
            requests.insert(0, self._request(asked, [(0.0, self.settings.seed)],
                                             min(self.settings.max_tokens, _TESTS_TOKENS),
                                             tests_prefix(tests_for)))
        start = time.perf_counter()
        completions = self.backend.complete_many(requests)
        self._tick("generate_s", start)
        for completion in completions:
            self._count("completion_tokens", completion.completion_tokens)
            self._count("prompt_tokens", completion.prompt_tokens)
        if tests_for is None:
            return [c.texts for c in completions], ""
        self._count("tests_tokens", completions[0].completion_tokens)
        return [c.texts for c in completions[1:]], (completions[0].texts or [""])[0]

    def _asks(self, round_no: int, base: list[Message],
              repair: list[Message] | None) -> list[tuple[str, list[Message],
                                                          list[tuple[float, int | None]]]]:
        """What a round asks for, as (origin, messages, schedule). Round 1: `candidates`
        texts of the stub's prompt. A later round: a repair of the best failing candidate
        (if anything failed that it could address), and `resample` fresh samples of the
        first prompt beside it: for small models, new samples find right programs about as
        often as repairs do (Olausson et al. 2023, "Is Self-Repair a Silver Bullet?"), and
        they can also supply the second, agreeing candidate that `verified` needs."""
        if round_no == 1:
            return [("first", base, self._schedule(1, self.settings.candidates))]
        asks: list[tuple[str, list[Message], list[tuple[float, int | None]]]] = []
        if repair is not None:
            asks.append(("repair", repair, self._schedule(
                round_no, min(_REPAIR_CANDIDATES, self.settings.candidates))))
        fresh = self.settings.resample if self.settings.candidates > 1 else 0
        if fresh:
            seed = self.settings.seed + 1000 * round_no + 500   # apart from the repairs' seeds
            asks.append(("resample", base, [(self.settings.sample_temperature, seed + i)
                                            for i in range(fresh)]))
        return asks

    def _schedule(self, round_no: int, n: int) -> list[tuple[float, int | None]]:
        """One greedy text, the rest sampled; seeds fixed by settings.seed and the round,
        so a run can be repeated."""
        seed = self.settings.seed + 1000 * round_no
        return [(self.settings.temperature if i == 0 else self.settings.sample_temperature,
                 seed + i) for i in range(n)]

    def _prepare(self, cand: Candidate, source: SourceFile, stub: Stub) -> None:
        """Host side of a candidate: parse, compose and compile it (never run it)."""
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

    def _run_untrusted_tests(self, cands: list[Candidate], source: SourceFile, stub: Stub,
                             tests: list[SpecTest]) -> None:
        """Every runnable candidate against every test, in one sandbox start."""
        ready = [c for c in cands if c.spliced and not c.problem]
        if not ready:
            return
        start = time.perf_counter()
        job, marker = matrix_job(stub, source.path, [c.spliced for c in ready], tests,
                                 timeout=self.settings.timeout,
                                 memory_mb=self.settings.memory_mb,
                                 per_test_timeout=min(self.settings.timeout, _PER_TEST_S))
        matrix = read_matrix(self.sandbox.run(job), marker, len(ready), len(tests))
        self._tick("sandbox_s", start)
        for i, cand in enumerate(ready):
            why = matrix.problem or matrix.problems[i]
            if why:
                cand.examples = ExampleRun((), why, matrix.run)
            else:
                cand.results = matrix.results[i]
                cand.examples = as_example_run(matrix, i, tests)

    def _check(self, cand: Candidate, source: SourceFile, stub: Stub,
               tests: list[SpecTest]) -> None:
        """The static checks, once per candidate (they cost seconds)."""
        if cand.checked:
            return
        cand.checked = True
        first = stub.ellipsis_line
        context = CheckContext(
            path=source.path, root=self.root, first_line=first,
            last_line=first + cand.body.strip("\n").count("\n"), cache_dir=self.cache_dir,
            example_sources=tuple(t.call for t in tests if t.stated),
            style=self.repo.style if self.repo else None)
        start = time.perf_counter()
        for check in self.checks:
            if isinstance(check, StyleCheck):  # its score goes into the report too
                scored = check.score(cand.spliced, context)
                cand.findings += scored.findings
                cand.style_score = scored.score
            else:
                cand.findings += check.run(cand.spliced, context)
        self._tick("checks_s", start)

    def _rank(self, tried: list[Candidate], tests: list[SpecTest]) -> list[Candidate]:
        scored = [j for j, t in enumerate(tests) if t.kind != "probe"]  # probes never pass
        rows = [[c.results[j].passed for j in scored] if c.ran else None for c in tried]
        ranker = rank_by_agreement if self.settings.ranking == "agreement" else rank_in_order
        order = ranker(rows, [tests[j].weight for j in scored])
        for ranked in order:
            tried[ranked.index].score = ranked.score
            tried[ranked.index].group = ranked.group
        outputs = [_outputs(c, tests) for c in tried]
        for cand, key in zip(tried, outputs):
            cand.agree = outputs.count(key) if key is not None else 0
        return [tried[r.index] for r in order]

    def _select(self, tried: list[Candidate], tests: list[SpecTest], source: SourceFile,
                stub: Stub) -> tuple[Candidate | None, list[Candidate]]:
        """The best-ranked candidate that passes every stated test and every check, if
        any; and the whole ranking. Checks run on at most a few new candidates a round."""
        ranking = self._rank(tried, tests)
        if not any(t.stated for t in tests):   # nothing of the user's to verify against
            return None, ranking
        fresh = 0
        for cand in ranking:
            if not _passes_stated(cand) or cand.agree < self._agreement_needed():
                continue
            if not cand.checked:
                if fresh == _CHECKED_PER_ROUND:
                    break
                fresh += 1
                self._check(cand, source, stub, tests)
            if cand.passed_everything:
                return cand, ranking
        return None, ranking

    def _agreement_needed(self) -> int:
        """How many candidates must compute the same on every test for `verified`: passing
        the docstring's examples alone was right ~90% of the time (issue 6's probe); a
        second, independently sampled program that agrees is the cheap confirmation.
        With one candidate configured there is nothing to agree with."""
        return self.settings.verify_agreement if self.settings.candidates > 1 else 1

    def _over_budget(self, started: float) -> str:
        spent = self._timings.get("repair_tokens", 0.0)
        if spent >= self.settings.repair_budget_tokens:
            return (f"the repair budget of {self.settings.repair_budget_tokens} tokens is "
                    "spent (setting repair_budget_tokens)")
        if time.perf_counter() - started >= self.settings.repair_budget_seconds:
            return (f"the repair budget of {self.settings.repair_budget_seconds:g} s is spent "
                    "(setting repair_budget_seconds)")
        return ""

    def fill(self, source: SourceFile, stub: Stub) -> Outcome:
        """Run the loop for `stub` and return its Outcome; never raises for the code's
        own failures (those are reasons), only for broken configuration."""
        self._timings = {}
        start = time.perf_counter()
        related, hits = self.repo.for_stub(source.path, stub) if self.repo else ("", [])
        self._tick("retrieve_s", start)
        base, redactions = _redacted(stub_messages(stub, source.text, source.path, related))
        # the stub's own lines start the answer; redacted like the prompt that shows them
        prefix = redact_secrets(answer_prefix(stub)).text
        stated = spec_tests(stub)
        tests = list(stated)
        tried: list[Candidate] = []
        ranking: list[Candidate] = []
        winner: Candidate | None = None
        notes: list[str] = []
        repair: list[Message] | None = None
        try:
            ask_tests = self.settings.generated_tests and not stub.is_method
            for round_no in range(1, self.settings.max_rounds + 1):
                if round_no > 1 and (spent := self._over_budget(start)):
                    notes.append(spent)
                    break
                asks = self._asks(round_no, base, repair)
                if not asks:   # nothing to repair, and no fresh samples configured
                    break
                self._event("round", source.path, stub, f"round {round_no}")
                before = self._timings.get("completion_tokens", 0.0)
                texts, tests_text = self._generate(
                    [(messages, schedule) for _, messages, schedule in asks], prefix,
                    stub if round_no == 1 and ask_tests else None)
                if tests_text:
                    tests = merge_tests(stated, parse_model_tests(
                        tests_text, stub.name, self.settings.max_generated_tests))
                if round_no == 1 and not stub.is_method:
                    tests += probe_tests(tests, stub.name, self.settings.probe_tests)
                if round_no > 1:
                    self._count("repair_tokens",
                                self._timings.get("completion_tokens", 0.0) - before)
                new: list[Candidate] = []
                for (origin, _, schedule), answers in zip(asks, texts):
                    new += [Candidate(round_no, len(tried) + len(new) + i, temperature, seed,
                                      text, origin)
                            for i, ((temperature, seed), text)
                            in enumerate(zip(schedule, answers))]
                for cand in new:
                    self._prepare(cand, source, stub)
                self._run_untrusted_tests(new, source, stub, tests)
                tried += new
                winner, ranking = self._select(tried, tests, source, stub)
                if winner is not None:
                    break
                best = min(ranking, key=Candidate.badness)
                feedback = _feedback(best)
                repair = None
                if feedback:   # something failed that a repair could address
                    repair, found = _redacted(repair_messages(base, best.answer, feedback))
                    redactions.update(found)
        except CodegenHookError as exc:
            notes.insert(0, str(exc))
        self._timings["total_s"] = time.perf_counter() - start
        outcome = self._outcome(source, stub, ranking or tried, winner, notes, tests)
        outcome.generated_tests = _generated_json(tests, outcome, ranking or tried)
        # one letter a column of `passes`: d(ocstring), s(tated), m(odel)
        outcome.selection["tests"] = "".join(t.origin[0] for t in tests)
        outcome.retrieved = [f"{h.path}::{h.symbol.qualname}" for h in hits]
        outcome.redactions = dict(redactions)
        outcome.stub_sha256 = hashlib.sha256(stub.source.encode()).hexdigest()
        outcome.model_sha256 = str(getattr(self.backend, "model_sha256", ""))
        return outcome

    def _outcome(self, source: SourceFile, stub: Stub, ranking: list[Candidate],
                 winner: Candidate | None, notes: list[str],
                 tests: list[SpecTest]) -> Outcome:
        reasons: list[str] = list(notes)
        chosen = winner or _fallback(ranking)
        verdict: OutcomeVerdict = "verified" if winner else "unverified"
        if chosen is not None and winner is not None:
            # independent: never shown a failure (the first round, the fresh samples)
            disputed = _disputed_examples([c for c in ranking if c.origin != "repair"])
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
            reasons.append(_unverified_reason(chosen, self._agreement_needed()))
        if chosen is not None and chosen.problem and not chosen.body:
            reasons.append(chosen.problem)
        code = filled_function(chosen.spliced, stub, chosen.body) if chosen and chosen.body else ""
        ordered = sorted(ranking, key=lambda c: c.index)
        return Outcome(
            file=str(source.path), name=stub.name, qualname=stub.qualname,
            line=stub.def_line, verdict=verdict, code=code, reasons=reasons,
            checks=chosen.findings if chosen else [],
            tests=[_test_json(r) for r in (chosen.examples.results
                                           if chosen and chosen.examples else ())],
            attempts=len(ranking), timings=dict(self._timings),
            model=self.backend.describe(), sandbox=self.sandbox.name,
            body=chosen.body if chosen else "",
            style_score=chosen.style_score if chosen else None,
            candidates=[_candidate_json(c, tests) for c in ordered],
            selection=_selection_json(chosen, ranking, self.settings.ranking))


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


def _fallback(ranking: list[Candidate]) -> Candidate | None:
    """The answer when nothing is verified: the best-ranked candidate that passes every
    stated test; else the best-ranked one that ran (agreement, not the count of failed
    examples: when every candidate fails some, the examples may be the wrong ones, as
    in HumanEval/116); else the least broken. Findings do not decide: only the
    candidates the checks reached have any, so counting them punished being checked."""
    for pool in ([c for c in ranking if _passes_stated(c)], [c for c in ranking if c.ran]):
        if pool:
            return pool[0]
    return min(ranking, key=Candidate.badness) if ranking else None


def _unverified_reason(cand: Candidate, agreement: int) -> str:
    if cand.problem:
        return cand.problem
    if _passes_stated(cand) and cand.examples and cand.examples.results \
            and cand.agree < agreement and not cand.blocking_findings:
        return (f"it passes the docstring's examples, but no other candidate computed the same "
                f"results on every test (verified needs {agreement} that agree: setting "
                "verify_agreement); add an example that pins the behaviour down")
    if cand.ran and cand.examples is not None and not cand.examples.results:
        return ("the docstring has no examples to test the code against (`>>>` lines, or "
                "`f(x) => y` / `f(x) == y` in the text); add one so the hook can verify it")
    feedback = _feedback(cand)
    return f"no candidate passed every check and example; the closest one:\n{feedback}"


def _test_json(result: Any) -> dict[str, Any]:
    return {"source": result.source, "want": result.want, "got": result.got,
            "passed": result.passed, "error": result.error}


def _candidate_json(cand: Candidate, tests: list[SpecTest]) -> dict[str, Any]:
    return {"round": cand.round, "origin": cand.origin, "index": cand.index,
            "temperature": cand.temperature,
            "seed": cand.seed, "problem": cand.problem,
            "failed_examples": cand.failed_examples, "findings": len(cand.findings),
            "sandbox_verdict": cand.examples.run.verdict if cand.examples else None,
            "ran": cand.ran,
            "passes": "".join("1" if r.passed else "0" for r in cand.results),
            "outputs": _fingerprints(cand, tests),
            "score": round(cand.score, 3), "group": cand.group, "agree": cand.agree,
            "checked": cand.checked,
            "body": cand.body}


def _computed(result: TestResult, test: SpecTest) -> tuple[bool, str, str]:
    """What one test computed: candidates agree when these are equal on every test and
    probe (stricter than passing the same tests: two programs can fail a test
    differently). On a probe, whose input may be one the spec rules out, any exception
    is the same answer: "it refused"."""
    if not result.error.strip():
        return result.passed, result.got, ""
    why = "raised" if test.kind == "probe" else result.error.strip().splitlines()[-1]
    return result.passed, result.got, why


def _outputs(cand: Candidate,
             tests: list[SpecTest]) -> tuple[tuple[bool, str, str], ...] | None:
    """What a candidate computed on every test and probe; None if it did not run."""
    if not cand.ran:
        return None
    return tuple(_computed(r, t) for r, t in zip(cand.results, tests))


def _fingerprints(cand: Candidate, tests: list[SpecTest]) -> list[str]:
    """A short digest of each of `_outputs` ("!" first where it raised), so agreement
    rules can be replayed over a run's record (benchmarks/humaneval_ablations.py)."""
    return [("!" if why else "") + hashlib.sha256(f"{ok}\0{got}\0{why}".encode()).hexdigest()[:8]
            for ok, got, why in (_computed(r, t) for r, t in zip(cand.results, tests))]


def _passes_stated(cand: Candidate) -> bool:
    return (not cand.problem and cand.ran
            and cand.failed_examples == 0)


def _selection_json(chosen: Candidate | None, ranking: list[Candidate],
                    method: str) -> dict[str, Any]:
    """How the answer was picked, for the report and for measuring the rule later."""
    if chosen is None:
        return {"method": method}
    return {"method": method, "index": chosen.index, "round": chosen.round,
            "score": round(chosen.score, 3), "group": chosen.group, "agree": chosen.agree,
            "rank": next((i for i, c in enumerate(ranking) if c is chosen), -1),
            "top_group": max((c.group for c in ranking), default=0),
            "candidates_passing_stated": sum(_passes_stated(c) for c in ranking)}


def _generated_json(tests: list[SpecTest], outcome: Outcome,
                    ranking: list[Candidate]) -> list[dict[str, Any]]:
    """The model's own tests and whether the returned code passed each one."""
    chosen = next((c for c in ranking if c.body and c.body == outcome.body), None)
    rows = chosen.results if chosen else ()
    return [{"test": t.render(), "passed": rows[i].passed if i < len(rows) else None}
            for i, t in enumerate(tests) if t.origin == "model"]
