"""A fill's wall time against the bare model's one greedy answer, stub by stub (issue 22).

    .venv/bin/python benchmarks/latency.py [--sets readme,humaneval,realistic]
        [--humaneval-every 8] [--realistic-every 4] [--limit N] [--json] [--out FILE]

In ONE process run on one machine, for each stub in turn:
  bare   the embedded model's one greedy completion of the hook's own prompt, in this
         process (evals/humaneval.answer_raw: the model loaded once, before the first
         stub; its load time is reported on its own line);
  hook   `codegen-hook fill --check --json FILE` as its own process, as at a commit: the
         wall time includes the interpreter, imports, the model's load, the sandbox and
         the checks. The first hook fill of the run is "cold" (the model file maybe not
         in the page cache yet), the later ones "warm".
Per stub: both wall times, their ratio, and the hook's split from its `timings`
(generate, sandbox, checks, repo tests, retrieval; `outside fill` = the process's wall
time less the fill's own total: start, imports, model load, index). Then medians per
set, and the overhead of a commit with no stub: `codegen-hook fill` on a file without
one (process wall time, median of 5) and `pre-commit run` of the codegen-hook-system hook
on it, in a scratch git repository.

Sets: readme = examples/strings.py's count_chars; humaneval = every Nth HumanEval prompt
(the `[eval]` extra); realistic = every Nth stub of benchmarks/realistic/. Timings on a
shared machine are noisy: run it on an idle one, and compare only rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codegen_hook.backends import make_backend
from codegen_hook.config import Settings, data_dir, resolve_settings
from codegen_hook.evals.humaneval import answer_raw, load_tasks, safe_name, stub_module
from codegen_hook.evals.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
README_STUB = ROOT / "examples" / "strings.py"
SPLIT = ("generate_s", "sandbox_s", "checks_s", "repo_tests_s", "retrieve_s")


@dataclass(frozen=True)
class Stub:
    set: str
    name: str           # the task id, or the example's file:function
    entry_point: str
    prompt: str         # the module up to the stub's docstring (evals' prompt form)

    @property
    def module(self) -> str:
        """The stub's file: the prompt, then `...` as the body."""
        return stub_module(self.prompt, self.entry_point)


@dataclass
class Row:
    set: str
    name: str
    bare_s: float
    hook_s: float
    cold: bool
    verdict: str
    split: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def ratio(self) -> float | None:
        return self.hook_s / self.bare_s if self.bare_s > 0 and not self.error else None


def _readme_prompt() -> str:
    text = README_STUB.read_text()
    return text[:text.rindex("...")].rstrip() + "\n"


def stubs_of(sets: list[str], he_every: int, real_every: int, limit: int | None) -> list[Stub]:
    found: list[Stub] = []
    if "readme" in sets:
        found.append(Stub("readme", "examples/strings.py:count_chars", "count_chars",
                          _readme_prompt()))
    if "humaneval" in sets:
        found += [Stub("humaneval", t.task_id, t.entry_point, t.prompt)
                  for t in load_tasks(every=he_every, limit=limit)]
    if "realistic" in sets:
        found += [Stub("realistic", s.task.task_id, s.task.entry_point, s.task.prompt)
                  for s in load_suite(every=real_every, limit=limit)]
    return found


def hook_fill(stub: Stub, folder: Path) -> tuple[float, dict[str, Any]]:
    """`codegen-hook fill --check --json` on the stub alone in a fresh folder: wall
    seconds and its one outcome (the code it writes stays generated text: never run here)."""
    folder.mkdir(parents=True)
    path = folder / f"{safe_name(stub.entry_point)}.py"   # as the bare prompt names it
    path.write_text(stub.module)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "codegen_hook", "fill", "--check", "--json",
                           path.name], cwd=folder, capture_output=True, text=True,
                          timeout=1800)
    wall = time.perf_counter() - start
    try:
        outcomes = json.loads(proc.stdout)["stubs"]
    except (ValueError, KeyError):
        return wall, {"error": (proc.stderr or proc.stdout)[-300:]}
    mine = [o for o in outcomes if o["qualname"] == stub.entry_point]
    return wall, mine[0] if mine else {"error": f"no outcome for {stub.entry_point}"}


def no_stub_overhead(folder: Path, reps: int = 5) -> dict[str, float | str]:
    """A commit with nothing to fill: our entry point alone, and through pre-commit."""
    folder.mkdir(parents=True)
    (folder / "plain.py").write_text("def f() -> int:\n    return 1\n")
    walls = []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "codegen_hook", "fill", "plain.py"], cwd=folder,
                       capture_output=True, check=True, timeout=120)
        walls.append(time.perf_counter() - start)
    out: dict[str, float | str] = {"fill_no_stub_s": statistics.median(walls)}
    hooks = folder / "hooks"
    hooks.mkdir()
    shutil.copy(ROOT / ".pre-commit-hooks.yaml", hooks)
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@invalid",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PRE_COMMIT_HOME": str(folder / "pre-commit-home")}
    for cmd, where in ((["git", "init", "-q", "-b", "main"], hooks), (["git", "add", "."], hooks),
                       (["git", "commit", "-q", "-m", "hooks"], hooks),
                       (["git", "init", "-q", "-b", "main"], folder)):
        subprocess.run(cmd, cwd=where, env=env, check=True, capture_output=True)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hooks, env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    (folder / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hooks}\n  rev: {rev}\n  hooks:\n  - id: codegen-hook-system\n")
    subprocess.run(["git", "add", "plain.py", ".pre-commit-config.yaml"], cwd=folder, env=env,
                   check=True)
    precommit = [sys.executable, "-m", "pre_commit", "run", "--files", "plain.py"]
    subprocess.run(precommit, cwd=folder, env=env, capture_output=True, timeout=300)  # set-up
    walls = []
    for _ in range(reps):
        start = time.perf_counter()
        proc = subprocess.run(precommit, cwd=folder, env=env, capture_output=True, text=True,
                              timeout=300)
        walls.append(time.perf_counter() - start)
        if proc.returncode != 0:
            out["pre_commit_error"] = (proc.stdout + proc.stderr)[-300:]
            break
    out["pre_commit_no_stub_s"] = statistics.median(walls)
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summary(rows: list[Row]) -> dict[str, dict[str, float | int | None]]:
    """Medians per set (and over all rows): bare, hook, the hook's ratio to bare."""
    out: dict[str, dict[str, float | int | None]] = {}
    for name in [*dict.fromkeys(r.set for r in rows), "all"]:
        mine = [r for r in rows if (name == "all" or r.set == name) and not r.error]
        ratios = [r.ratio for r in mine if r.ratio is not None]
        warm = [r.hook_s for r in mine if not r.cold]
        out[name] = {"stubs": len(mine), "bare_s": _median([r.bare_s for r in mine]),
                     "hook_s": _median([r.hook_s for r in mine]),
                     "hook_warm_s": _median(warm), "ratio": _median(ratios),
                     "ratio_of_medians": (_median([r.hook_s for r in mine]) or 0) /
                     (_median([r.bare_s for r in mine]) or 1) if mine else None,
                     "verified": sum(r.verdict == "verified" for r in mine)}
    return out


def _cell(value: float | int | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="readme,humaneval,realistic")
    parser.add_argument("--humaneval-every", type=int, default=8, metavar="N")
    parser.add_argument("--realistic-every", type=int, default=4, metavar="N")
    parser.add_argument("--limit", type=int, help="at most N stubs of each set")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    stubs = stubs_of(args.sets.split(","), args.humaneval_every, args.realistic_every,
                     args.limit)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="codegen-hook-latency-") as tmp:
        # the settings a hook process in a fresh folder gets: defaults and CODEGEN_HOOK_*
        settings: Settings = resolve_settings(Path(tmp)).validated()
        backend = make_backend(settings, data_dir(settings))
        start = time.perf_counter()
        answer_raw("load", _readme_prompt(), "count_chars", backend, settings)
        load_s = time.perf_counter() - start   # the model's load and one short answer
        for i, stub in enumerate(stubs):
            bare = answer_raw(stub.name, stub.prompt, stub.entry_point, backend, settings)
            wall, outcome = hook_fill(stub, Path(tmp) / f"s{i}")
            timings = outcome.get("timings", {})
            row = Row(stub.set, stub.name, bare.seconds, wall, cold=i == 0,
                      verdict=outcome.get("verdict", "failed"),
                      split={k: round(float(timings.get(k, 0.0)), 3) for k in SPLIT},
                      tokens={k: timings.get(k, 0) for k in
                              ("completion_tokens", "prompt_tokens", "tests_tokens")},
                      error=str(outcome.get("error", "")))
            row.split["outside_fill_s"] = round(wall - float(timings.get("total_s", 0.0)), 3)
            rows.append(row)
            if not args.json:
                print(f"[{i + 1}/{len(stubs)}] {stub.name}: bare {bare.seconds:.1f} s, hook "
                      f"{wall:.1f} s (x{_cell(row.ratio)}), {row.verdict}"
                      f"{' ' + row.error if row.error else ''}", file=sys.stderr)
        overhead = no_stub_overhead(Path(tmp) / "nostub")
    medians = summary(rows)
    figures = {"model_load_s": round(load_s, 2), "rows": [asdict(r) | {"ratio": r.ratio}
                                                          for r in rows],
               "summary": medians, "no_stub": overhead}
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"model load (+ one short answer), in-process: {load_s:.1f} s")
    print(f"  {'stub':36} {'bare s':>7} {'hook s':>7} {'ratio':>6}  generate sandbox checks "
          "outside  verdict")
    for r in rows:
        s = r.split
        print(f"  {r.name[:36]:36} {r.bare_s:7.1f} {r.hook_s:7.1f} {_cell(r.ratio):>6}  "
              f"{s['generate_s']:8.1f} {s['sandbox_s']:7.1f} {s['checks_s']:6.1f} "
              f"{s['outside_fill_s']:7.1f}  {r.verdict}{' (cold)' if r.cold else ''}")
    print("medians:")
    for name, m in medians.items():
        print(f"  {name:10} {m['stubs']} stubs: bare {_cell(m['bare_s'])} s, hook "
              f"{_cell(m['hook_s'])} s (warm {_cell(m['hook_warm_s'])} s), median ratio "
              f"x{_cell(m['ratio'])}, verified {m['verified']}")
    print(f"no stub: fill {overhead['fill_no_stub_s']:.2f} s, pre-commit run "
          f"{overhead['pre_commit_no_stub_s']:.2f} s")


if __name__ == "__main__":
    main()
