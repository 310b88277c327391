"""eval: measure the hook on a benchmark (HumanEval), side by side with the bare model."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from codegen_hook.cli.common import (add_settings_flags, load_settings, progress_bar,
                                     sandbox_factory, show_event, warn_unsafe)
from codegen_hook.config import RANKINGS, data_dir
from codegen_hook.errors import ConfigError
from codegen_hook.evals.results import Summary, TaskResult, interval_text, percent

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    ev = sub.add_parser("eval", help="measure the hook on a benchmark")
    ev_sub = ev.add_subparsers(dest="eval_command", required=True)
    he = ev_sub.add_parser(
        "humaneval", help="HumanEval: each prompt through `fill`, scored by its hidden tests "
        "(needs pip install 'codegen-hook[eval]'; --plus: HumanEval+ as well)")
    he.add_argument("--plus", action="store_true",
                    help="HumanEval+ (EvalPlus v0.1.10): also score every task on EvalPlus's "
                    "base and plus inputs against the canonical solution")
    he.add_argument("--plus-data", type=Path, metavar="FILE",
                    help="EvalPlus's HumanEvalPlus.jsonl.gz (default: "
                    "../shared/data/humanevalplus/ beside the checkout)")
    _add_task_flags(he, "HumanEval/2 or 2", "humaneval-results")
    su = ev_sub.add_parser(
        "suite", help="a suite of our own (default benchmarks/realistic/): YAML tasks with "
        "hidden strict tests, run like HumanEval")
    su.add_argument("path", nargs="?", type=Path, metavar="PATH",
                    help="a folder of .yaml task files, or one file (default: the realistic "
                    "dev set)")
    su.add_argument("--tag", action="append", default=[], metavar="TAG",
                    help="only tasks with this tag (repeat: all of them)")
    _add_task_flags(su, "realistic/merge_intervals", "suite-results")
    _add_repo_parser(ev_sub)


def _add_task_flags(he: Any, example_id: str, default_out: str) -> None:
    he.add_argument("--limit", type=int, metavar="N", help="only the first N tasks")
    he.add_argument("--tasks", metavar="ID,ID", help=f"these tasks ({example_id})")
    he.add_argument("--raw", "--bare", dest="raw", action="store_true",
                    help="the bare model: one greedy completion, no checks, no repair")
    he.add_argument("--json", action="store_true", help="print one JSON document")
    he.add_argument("--resume", action="store_true",
                    help="skip tasks already in the results file of --out")
    he.add_argument("--out", type=Path, default=Path(default_out), metavar="DIR",
                    help="results (hook.jsonl / raw.jsonl) and report.html "
                    f"(default ./{default_out})")
    he.add_argument("--candidates", type=int, help="candidates in the first round")
    he.add_argument("--max-rounds", type=int, help="generation rounds (first + repairs)")
    he.add_argument("--every", type=int, metavar="N", help="every Nth task (0, N, 2N, ...)")
    he.add_argument("--offset", type=int, default=0, metavar="K",
                    help="with --every: start at the Kth task (K, K+N, ...)")
    ablate = he.add_argument_group("ablations (measure what each ingredient adds)")
    ablate.add_argument("--no-generated-tests", action="store_true",
                        help="no tests written by the model: the docstring's examples only")
    ablate.add_argument("--ranking", choices=RANKINGS,
                        help="agreement: CodeT dual agreement; first: generation order")
    ablate.add_argument("--no-repair", action="store_true", help="one round, no repair")
    ablate.add_argument("--no-resample", action="store_true",
                        help="later rounds repair only: no fresh samples of the first prompt")
    ablate.add_argument("--alternatives", type=int, metavar="N",
                        help="later rounds: N asks for the function written another way when "
                        "the passing samples are copies of one program (default: the setting, 0)")
    ablate.add_argument("--no-distinct", action="store_true",
                        help="agreement counts copies of one program, not distinct programs")
    ablate.add_argument("--no-veto", action="store_true",
                        help="model tests and probes never stop a verdict")
    ablate.add_argument("--no-probes", action="store_true",
                        help="no probe inputs: verified needs agreement on the tests only")
    ablate.add_argument("--no-prefix", action="store_true",
                        help="the model writes the whole function, signature and docstring "
                        "included, instead of continuing after the stub's docstring")
    add_settings_flags(he)


def _add_repo_parser(ev_sub: Any) -> None:
    rp = ev_sub.add_parser(
        "repo", help="A/B on a repository: its functions cut back to stubs, filled by the "
        "hook, scored by the repository's own tests (in the sandbox)")
    rp.add_argument("path", nargs="?", type=Path, default=Path("."),
                    help="the repository (default: the current folder)")
    rp.add_argument("--test-cmd", default="pytest -q", metavar="CMD",
                    help="the repository's test command, a pytest run (default: pytest -q)")
    rp.add_argument("--sample", type=int, metavar="N",
                    help="evaluate N functions drawn at random (default: all covered ones)")
    rp.add_argument("--seed", type=int, default=0, help="the draw's seed (default 0)")
    rp.add_argument("--functions", metavar="KEY,KEY",
                    help="these functions only (path::qualname, as --list prints them)")
    rp.add_argument("--heldout", action="store_true",
                    help="the functions of the fine-tuning data's held-out split "
                    "(codegen-hook dataset build)")
    rp.add_argument("--retrieval", choices=("both", "on", "off"), default="both",
                    help="fill with the repository index's retrieval, without, or both "
                    "(default both: the retrieval and docstring-only arms side by side)")
    rp.add_argument("--arm", action="append", default=[], choices=("tdd",),
                    help="one more arm: tdd, where half of each function's own tests "
                    "(seeded split) are shown to the hook and the rest score every arm; "
                    "functions with fewer than 2 tests naming them are skipped")
    rp.add_argument("--install", action="append", default=[], metavar="REQ",
                    help="a package the tests need, pip-installed into the test "
                    "environment (repeat; pytest and pytest-cov always are)")
    rp.add_argument("--deps", action="append", default=[], type=Path, metavar="DIR",
                    help="a folder of packages the tests import (e.g. a venv's "
                    "site-packages made with the system Python), used as it is")
    rp.add_argument("--test-timeout", type=float, default=600.0, metavar="S",
                    help="seconds a test run may take in the sandbox (default 600)")
    rp.add_argument("--candidates", type=int, help="candidates in the first round")
    rp.add_argument("--max-rounds", type=int, help="generation rounds (first + repairs)")
    rp.add_argument("--list", action="store_true",
                    help="list the functions that could be evaluated, and stop")
    rp.add_argument("--out", type=Path, default=Path("repo-eval-results"), metavar="DIR",
                    help="results (repo.jsonl) and report.html (default ./repo-eval-results)")
    rp.add_argument("--html", type=Path, metavar="FILE",
                    help="write the HTML report here (default: DIR/report.html)")
    rp.add_argument("--resume", action="store_true",
                    help="skip functions already in the results file of --out")
    rp.add_argument("--json", action="store_true", help="print one JSON document")
    add_settings_flags(rp)


def _show_task(position: int, total: int, result: TaskResult) -> None:
    passed = "passed" if result.passed else "FAILED hidden tests"
    print(f"[{position}/{total}] {result.task_id}: {result.verdict}, {passed} "
          f"({result.seconds:.1f} s)", file=sys.stderr)


def _render_summary(title: str, mode: str, summary: Summary, report: Path,
                    resumed: int) -> None:
    print(f"{title} ({mode}): {summary.passed}/{summary.tasks} passed, "
          f"pass@1 {percent(summary.pass_at_1)}")
    print(f"  verified {summary.verified} ({percent(summary.verified_rate)}), precision of "
          f"verified {percent(summary.precision_verified)}; right but unverified "
          f"{summary.right_unverified}")
    if summary.plus_passed is not None:
        print(f"  plus tests: {summary.plus_passed}/{summary.tasks} passed, plus pass@1 "
              f"{percent(summary.plus_pass_at_1)}, precision of verified on the plus tests "
              f"{percent(summary.precision_plus)}, right but unverified "
              f"{summary.right_unverified_plus}")
    if summary.oracle_pass is not None:
        print(f"  some candidate right (oracle, the ceiling of ranking) "
              f"{percent(summary.oracle_pass)}")
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
    from codegen_hook.checks import checks_from_settings
    from codegen_hook.evals.humaneval import load_tasks, run_humaneval
    from codegen_hook.evals.plus import DEFAULT_PLUS, load_plus_tasks
    from codegen_hook.evals.suite import DEFAULT_SUITE, load_suite

    settings, _ = load_settings(args)
    ablations: dict[str, Any] = {}
    if args.no_generated_tests:
        ablations["generated_tests"] = False
    if args.ranking:
        ablations["ranking"] = args.ranking
    if args.no_repair:
        ablations["max_rounds"] = 1
    if args.no_resample:
        ablations["resample"] = 0
    if args.no_probes:
        ablations["probe_tests"] = 0
    if args.alternatives is not None:
        ablations["alternatives"] = args.alternatives
    if args.no_distinct:
        ablations["distinct_agreement"] = False
    if args.no_veto:
        ablations["verify_veto"] = False
    if args.no_prefix:
        ablations["answer_prefix"] = False
    settings = dataclasses.replace(settings, **ablations).validated()
    warn_unsafe(settings)
    choose: dict[str, Any] = {"limit": args.limit, "every": args.every, "offset": args.offset,
                              "task_ids": args.tasks.split(",") if args.tasks else None}
    if args.eval_command == "suite":
        where = args.path or DEFAULT_SUITE
        tasks = [t.task for t in load_suite(where, tags=args.tag, **choose)]
        benchmark, title = f"suite:{where.name}", f"suite {where.name}"
    elif getattr(args, "plus", False):
        tasks = load_plus_tasks(getattr(args, "plus_data", None) or DEFAULT_PLUS, **choose)
        benchmark, title = "humaneval+", "HumanEval+"
    else:
        tasks = load_tasks(**choose)
        benchmark, title = "humaneval", "HumanEval"
    if not tasks:
        raise ConfigError("no task was chosen; widen --tasks / --tag / --limit / --offset")
    home = data_dir(settings)

    def backend() -> Backend:
        return make_backend(settings, home, progress_bar("assembling model"))

    sandbox = sandbox_factory(settings)
    run = run_humaneval(tasks, settings, out_dir=args.out, cache_dir=home / "cache",
                        make_backend=backend, make_sandbox=sandbox,
                        checks=checks_from_settings(settings), raw=args.raw,
                        resume=args.resume, progress=_show_task, benchmark=benchmark)
    if args.json:
        print(json.dumps(run.to_json(), indent=2))
    else:
        _render_summary(title, run.mode, run.summary, run.report_path, run.resumed)
    return 0


def _heldout_keys(root: Path, settings: Any) -> list[str]:
    from codegen_hook.finetune.dataset import load_dataset

    pairs = load_dataset(root, settings, "heldout")
    if not pairs:
        raise ConfigError("the fine-tuning data's held-out split is empty; run "
                          "`codegen-hook dataset build` with a larger --heldout")
    return [f"{p.path}::{p.qualname}" for p in pairs]


def _show_function(position: int, total: int, result: Any) -> None:
    if result.status != "done":
        print(f"[{position}/{total}] {result.key}: skipped ({result.skip_reason[:120]})",
              file=sys.stderr)
        return
    arms = ", ".join(f"{arm}: {a.verdict}, {'passed' if a.passed else 'FAILED'} the tests"
                     for arm, a in result.arms.items())
    print(f"[{position}/{total}] {result.key}: {arms}", file=sys.stderr)


def _render_repo(run: Any) -> None:
    base = run.baseline["counts"]
    print(f"repository: {run.candidates} functions with a docstring and a body, "
          f"{run.covered} exercised by its tests (suite: {base.get('passed', 0)} passed, "
          f"{base.get('failed', 0)} failed)")
    done = sum(r.status == "done" for r in run.results)
    print(f"evaluated {done} of {len(run.results)} sampled "
          f"({len(run.results) - done} skipped: their tests fail as written, the same "
          "code is elsewhere, or for tdd fewer than 2 tests name them)")
    for arm, s in run.summaries.items():
        print(f"  {arm}: {s.passed}/{s.functions} pass the repository's tests "
              f"({percent(s.accuracy)}{interval_text(s.accuracy_ci)}); verified "
              f"{s.verified}, right {percent(s.precision_verified)}{interval_text(s.precision_ci)}")
        if s.speed_ratio_median is not None:
            print(f"    speed generated / hand-written: median x{s.speed_ratio_median:.2f}, "
                  f"geometric mean x{s.speed_ratio_geomean or 0:.2f} "
                  f"({len(s.speed_ratios)} measured)")
        if s.style_generated is not None:
            print(f"    style score {s.style_generated:.2f} (hand-written "
                  f"{s.style_original or 0:.2f}); size ratio median "
                  f"x{s.size_ratio_median or 0:.2f}; fill {s.fill_seconds_median or 0:.1f} s "
                  "median")
    if run.resumed:
        print(f"  ({run.resumed} functions came from the earlier run)")
    print(f"  results: {run.results_path}")
    print(f"  report: {run.report_path}")


def _cmd_eval_repo(args: argparse.Namespace) -> int:
    from codegen_hook.backends import Backend, make_backend
    from codegen_hook.checks import checks_from_settings
    from codegen_hook.evals.repo import ARMS, find_functions, run_repo_eval
    from codegen_hook.evals.repo_report import write_repo_report
    from codegen_hook.evals.testenv import make_workspace, parse_test_command

    settings, _ = load_settings(args)
    root = args.path.resolve()
    if not root.is_dir():
        raise ConfigError(f"{args.path} is not a folder; give the repository's root")
    if args.list:
        functions, _skipped = find_functions(root)
        if args.json:
            print(json.dumps([f.key for f in functions], indent=2))
        else:
            for fn in functions:
                print(fn.key)
        return 0
    if args.sample is not None and args.sample < 1:
        raise ConfigError("--sample must be 1 or more")
    argv = parse_test_command(args.test_cmd)
    warn_unsafe(settings)
    only = [k.strip() for k in args.functions.split(",") if k.strip()] if args.functions \
        else None
    if args.heldout:
        only = _heldout_keys(root, settings)
    arms = {"both": ARMS[:2], "on": ARMS[:1], "off": ARMS[1:2]}[args.retrieval]
    arms += tuple(dict.fromkeys(a for a in args.arm if a not in arms))
    home = data_dir(settings)

    def backend() -> Backend:
        return make_backend(settings, home, progress_bar("assembling model"))

    print(f"preparing a scratch copy of {root} and its test environment", file=sys.stderr)
    uid = settings.sandbox_uid if os.geteuid() == 0 else None
    workspace = make_workspace(root, args.install, args.deps, sandbox_uid=uid)
    try:
        run = run_repo_eval(
            workspace, argv, settings, out_dir=args.out, make_backend=backend,
            make_sandbox=sandbox_factory(settings),
            checks=checks_from_settings(settings), sample=args.sample,
            seed=args.seed, only=only, arms=arms, resume=args.resume,
            test_timeout=args.test_timeout,
            progress=lambda message: print(message, file=sys.stderr),
            fill_progress=show_event, on_result=_show_function)
    finally:
        workspace.close()
    run.report_path = write_repo_report(args.html or args.out / "report.html", run.results,
                                        run.summaries, root.name)
    if args.json:
        print(json.dumps(run.to_json(), indent=2))
    else:
        _render_repo(run)
    return 0


def _cmd_eval_any(args: argparse.Namespace) -> int:
    if args.eval_command == "repo":
        return _cmd_eval_repo(args)
    return _cmd_eval(args)


COMMANDS = {"eval": _cmd_eval_any}
