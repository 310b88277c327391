"""What the sandbox costs on this machine, measured, printed (never asserted in a test).

    .venv/bin/python benchmarks/sandbox_overhead.py [--runs N] [--warmup N] [--fill-runs N]
        [--backends bwrap,docker] [--skip-startup] [--skip-batch] [--skip-fill] [--json]

1. Start-up: wall seconds of a trivial job (`pass`) through `BwrapSandbox()` and
   `DockerSandbox()`, against a bare `/usr/bin/python3 -I -S -c pass` (and `-I` without
   `-S`: the sandboxes run `python3 -I -B`, which imports `site`). Timed around
   `Sandbox.run`, so the host side (job folder, uid slot, container create/remove) counts.
2. A whole candidate x tests batch: the real `matrix_job` for a stub with eight doctest
   examples and a correct body spliced in, as `StubFiller` times it for `sandbox_s` (build
   the job, run it, read the report), against the same job run by `UnsandboxedRunner`
   (which runs sys.executable: here a Python of its own, slower to start than the
   sandboxes' /usr/bin/python3), and by the same runner with /usr/bin/python3.
3. The sandbox's share of a typical fill: the real `codegen-hook fill --check --json` on a
   copy of examples/strings.py with `--sandbox bwrap` and `--sandbox docker`; share =
   timings.sandbox_s / timings.total_s, against the goal "the sandbox adds <= 10% to a
   typical fill". total_s (and so the share) leaves out the process start, the model's
   assembly check and the sandbox's own set-up (bwrap's probe run, Docker's ping); the
   first model load falls inside generate_s. The process wall time is reported beside it.

Runs of different cases are interleaved (the order rotates each round) so a burst of load
on the machine lands on every case alike; the load average is printed with the figures.
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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codegen_hook.config import Settings
from codegen_hook.errors import SandboxUnavailableError
from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.isolation.docker import DockerSandbox
from codegen_hook.isolation.process import (Limits, release_job_files, run_untrusted_process,
                                            write_job_files)
from codegen_hook.isolation.unsafe import UnsandboxedRunner
from codegen_hook.pipeline.matrix import matrix_job, read_matrix
from codegen_hook.pipeline.spec import spec_tests
from codegen_hook.stubs import Stub, find_stubs, splice_bodies

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"
BARE_S = "bare python3 -I -S -c pass"
BARE_I = "bare python3 -I -c pass"
BARE_VENV = "bare sys.executable -I -c pass"
UNSAFE = "UnsandboxedRunner"
UNSAFE_SYSTEM = "UnsandboxedRunner, /usr/bin/python3"
GOAL_SHARE = 0.10
TRIVIAL_JOB = SandboxJob(files={"job.py": "pass\n"}, entry="job.py", timeout=30.0)

# The benchmark's own stub: one function, eight doctest examples, and a body known to be
# correct (BODY), so every example passes in every backend.
BATCH_MODULE = '''\
"""A module with one stub for the sandbox benchmark."""


def run_length(s: str) -> str:
    """Run-length encode `s`: each run of one character becomes its length and the character.

    >>> run_length("")
    ''
    >>> run_length("a")
    '1a'
    >>> run_length("aaa")
    '3a'
    >>> run_length("ab")
    '1a1b'
    >>> run_length("aaabcc")
    '3a1b2c'
    >>> run_length("zzzzzzzzzzzz")
    '12z'
    >>> run_length("aabbaa")
    '2a2b2a'
    >>> run_length("  x")
    '2 1x'
    """
    ...
'''
BATCH_EXAMPLES = 8
BATCH_BODY = '''\
runs: list[tuple[str, int]] = []
for char in s:
    if runs and runs[-1][0] == char:
        runs[-1] = (char, runs[-1][1] + 1)
    else:
        runs.append((char, 1))
return "".join(f"{count}{char}" for char, count in runs)
'''


class BenchmarkError(Exception):
    """A measured run did not do what it should; its time would mean nothing."""


class SystemPythonRunner(UnsandboxedRunner):
    """UnsandboxedRunner with the interpreter the sandboxes run (/usr/bin/python3) in
    place of sys.executable, which here may be another build with a slower start: a
    second baseline that differs from the sandboxes only by the isolation."""

    def run(self, job: SandboxJob) -> RunResult:
        folder = tempfile.mkdtemp(prefix="codegen-hook-unsafe-")
        try:
            write_job_files(job, Path(folder), None)
            argv = [SYSTEM_PYTHON, "-I", "-B", str(Path(folder) / job.entry), *job.args]
            return run_untrusted_process(argv, job, Limits.for_job(job, processes=None),
                                         self.name, cwd=folder)
        finally:
            release_job_files(Path(folder))


@dataclass(frozen=True)
class Stats:
    runs: int
    median_s: float
    p10_s: float
    p90_s: float
    min_s: float
    max_s: float

    @classmethod
    def of(cls, samples: list[float]) -> "Stats":
        if len(samples) >= 2:
            deciles = statistics.quantiles(samples, n=10, method="inclusive")
            p10, p90 = deciles[0], deciles[-1]
        else:
            p10 = p90 = samples[0]
        return cls(len(samples), statistics.median(samples), p10, p90, min(samples),
                   max(samples))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def interleaved(cases: dict[str, Callable[[], None]], runs: int,
                warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each case: `warmup` untimed calls each, then `runs` rounds,
    each calling every case once in an order that rotates from round to round."""
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(runs):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            cases[name]()
            samples[name].append(time.perf_counter() - start)
    return samples


def make_sandboxes(wanted: list[str]) -> tuple[dict[str, Sandbox], dict[str, str]]:
    """The backends asked for that work here, and why the others do not."""
    made: dict[str, Sandbox] = {}
    missing: dict[str, str] = {}
    for name in wanted:
        try:
            made[name] = BwrapSandbox() if name == "bwrap" else DockerSandbox()
        except SandboxUnavailableError as exc:
            missing[name] = str(exc)
            log(f"{name}: unavailable: {exc}")
    return made, missing


def bare_case(argv: list[str]) -> Callable[[], None]:
    def once() -> None:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              check=False)
        if proc.returncode != 0:
            raise BenchmarkError(f"{argv} exited {proc.returncode}: {proc.stderr[-300:]!r}")
    return once


def trivial_case(sandbox: Sandbox) -> Callable[[], None]:
    def once() -> None:
        result = sandbox.run(TRIVIAL_JOB)
        if not result.ok:
            raise BenchmarkError(f"{sandbox.name}: trivial job {result.verdict}: "
                                 f"{result.stderr[-300:]}")
    return once


# --------------------------------------------------------------------------- 1. start-up


def measure_startup(sandboxes: dict[str, Sandbox], runs: int, warmup: int) -> dict[str, Any]:
    cases: dict[str, Callable[[], None]] = {
        BARE_S: bare_case([SYSTEM_PYTHON, "-I", "-S", "-c", "pass"]),
        BARE_I: bare_case([SYSTEM_PYTHON, "-I", "-c", "pass"]),
        BARE_VENV: bare_case([sys.executable, "-I", "-c", "pass"]),
        # The job is `pass`, the benchmark's own: running it without a sandbox is harmless.
        UNSAFE: trivial_case(UnsandboxedRunner()),
        UNSAFE_SYSTEM: trivial_case(SystemPythonRunner()),
    }
    for name, sandbox in sandboxes.items():
        cases[name] = trivial_case(sandbox)
    load_before = load_average()
    stats = {name: Stats.of(s) for name, s in interleaved(cases, runs, warmup).items()}
    base_s, base_i = stats[BARE_S].median_s, stats[BARE_I].median_s
    return {
        "load_before": load_before, "load_after": load_average(),
        "cases": {name: asdict(st) for name, st in stats.items()},
        "overhead_ms": {name: (stats[name].median_s - base_s) * 1000 for name in cases
                        if name != BARE_S},
        "overhead_vs_site_ms": {name: (stats[name].median_s - base_i) * 1000 for name in cases
                                if name not in (BARE_S, BARE_I)},
    }


# ----------------------------------------------------------------------------- 2. batch


def batch_stub(folder: Path) -> tuple[Stub, Path, str]:
    """The benchmark's stub in a folder of its own (its import root), and the module with
    the known-good body spliced in."""
    folder.mkdir(parents=True)
    path = folder / "rle_bench.py"
    path.write_text(BATCH_MODULE, "utf-8")
    stubs = find_stubs(BATCH_MODULE, str(path)).stubs
    if len(stubs) != 1:
        raise BenchmarkError(f"expected one stub in the benchmark module, found {len(stubs)}")
    return stubs[0], path, splice_bodies(BATCH_MODULE, [(stubs[0], BATCH_BODY)], "\n")


def batch_case(sandbox: Sandbox, stub: Stub, path: Path, spliced: str,
               settings: Settings) -> Callable[[], None]:
    """What StubFiller times as sandbox_s for one candidate: build, run, read."""
    tests = spec_tests(stub)

    def once() -> None:
        job, marker = matrix_job(stub, path, [spliced], tests, timeout=settings.timeout,
                                 memory_mb=settings.memory_mb)
        matrix = read_matrix(sandbox.run(job), marker, 1, len(tests))
        passed = sum(r.passed for r in matrix.results[0])
        if matrix.problems[0] or passed != BATCH_EXAMPLES:
            raise BenchmarkError(f"{sandbox.name}: {passed}/{BATCH_EXAMPLES} examples passed; "
                                 f"{matrix.problems[0] or matrix.results[0]}")
    return once


def measure_batch(sandboxes: dict[str, Sandbox], runs: int, warmup: int,
                  work: Path) -> dict[str, Any]:
    settings = Settings()
    stub, path, spliced = batch_stub(work / "batch")
    # The baselines run the job with no isolation at all. That is safe only because the
    # code is this benchmark's own known-good function above, never model output.
    cases = {UNSAFE: batch_case(UnsandboxedRunner(), stub, path, spliced, settings),
             UNSAFE_SYSTEM: batch_case(SystemPythonRunner(), stub, path, spliced, settings)}
    for name, sandbox in sandboxes.items():
        cases[name] = batch_case(sandbox, stub, path, spliced, settings)
    load_before = load_average()
    stats = {name: Stats.of(s) for name, s in interleaved(cases, runs, warmup).items()}
    base, system = stats[UNSAFE].median_s, stats[UNSAFE_SYSTEM].median_s
    return {
        "examples": BATCH_EXAMPLES, "timeout_s": settings.timeout,
        "memory_mb": settings.memory_mb,
        "load_before": load_before, "load_after": load_average(),
        "cases": {name: asdict(st) for name, st in stats.items()},
        "overhead_ms": {name: (stats[name].median_s - base) * 1000
                        for name in [UNSAFE_SYSTEM, *sandboxes]},
        "overhead_vs_system_python_ms": {name: (stats[name].median_s - system) * 1000
                                         for name in sandboxes},
    }


# ------------------------------------------------------------------------------ 3. fill


def fill_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEGEN_HOOK_")}
    env["CODEGEN_HOOK_DATA_DIR"] = str(data)
    return env


def run_fill(backend: str, folder: Path, env: dict[str, str]) -> dict[str, Any]:
    """One `codegen-hook fill --check --json` of strings.py; its summed timings."""
    command = str(Path(sys.executable).parent / "codegen-hook")  # -m would put cwd on sys.path
    start = time.perf_counter()
    proc = subprocess.run([command, "fill", "--check", "--json", "--sandbox", backend,
                           "strings.py"], cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if not proc.stdout.strip():
        raise BenchmarkError(f"fill --sandbox {backend} printed nothing (exit "
                             f"{proc.returncode}): {proc.stderr[-1500:]}")
    stubs = json.loads(proc.stdout)["stubs"]
    if not stubs:
        raise BenchmarkError(f"fill --sandbox {backend} found no stub: {proc.stdout[-800:]}")
    if any(s["sandbox"] != backend for s in stubs):
        raise BenchmarkError(f"fill ran in {stubs[0]['sandbox']!r}, not {backend!r}")
    keys = ("total_s", "sandbox_s", "generate_s", "checks_s")
    row: dict[str, Any] = {k: sum(s["timings"].get(k, 0.0) for s in stubs) for k in keys}
    row["share"] = row["sandbox_s"] / row["total_s"] if row["total_s"] else 0.0
    row["wall_s"] = wall
    row["exit_code"] = proc.returncode
    row["verdicts"] = [s["verdict"] for s in stubs]
    row["candidates"] = sum(s["attempts"] for s in stubs)
    row["sandbox_runs"] = sum(c["sandbox_verdict"] is not None
                              for s in stubs for c in s["candidates"])
    return row


def measure_fill(backends: list[str], runs: int, work: Path) -> dict[str, Any]:
    folder = work / "fill"
    folder.mkdir()
    source = folder / "strings.py"
    shutil.copy(ROOT / "examples" / "strings.py", source)
    original = source.read_bytes()
    env = fill_env(work / "data")
    # Untimed: the first run assembles the model into the fresh data dir; one more per
    # backend warms its path (page cache, the engine) so the timed runs compare like for like.
    for backend in backends:
        start = time.perf_counter()
        run_fill(backend, folder, env)
        log(f"fill warm-up ({backend}): {time.perf_counter() - start:.1f} s")
    load_before = load_average()
    rows: dict[str, list[dict[str, Any]]] = {b: [] for b in backends}
    for round_no in range(runs):
        shift = round_no % len(backends)
        for backend in backends[shift:] + backends[:shift]:
            rows[backend].append(run_fill(backend, folder, env))
            log(f"fill {backend} {round_no + 1}/{runs}: total "
                f"{rows[backend][-1]['total_s']:.2f} s, sandbox "
                f"{rows[backend][-1]['sandbox_s']:.3f} s")
    if source.read_bytes() != original:
        raise BenchmarkError("fill --check changed strings.py")
    summary: dict[str, Any] = {}
    for backend, got in rows.items():
        medians = {key: statistics.median([r[key] for r in got])
                   for key in ("total_s", "sandbox_s", "generate_s", "checks_s", "wall_s",
                               "share")}
        summary[backend] = {
            **medians, "share_of_medians": medians["sandbox_s"] / medians["total_s"],
            "goal_met": medians["share"] <= GOAL_SHARE, "runs": got}
    return {"goal_share": GOAL_SHARE, "load_before": load_before,
            "load_after": load_average(), "backends": summary}


# ----------------------------------------------------------------------------- report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f}"


def print_startup(part: dict[str, Any]) -> None:
    print(f"\n1. Start-up of a trivial job (`pass`), {next(iter(part['cases'].values()))['runs']}"
          f" runs each; load {part['load_before']} -> {part['load_after']}")
    print(f"   {'case':36} {'median ms':>9} {'p10 ms':>9} {'p90 ms':>9} "
          f"{'+ms vs -I -S':>13} {'+ms vs -I':>10}")
    for name, st in part["cases"].items():
        over = part["overhead_ms"].get(name)
        site = part["overhead_vs_site_ms"].get(name)
        print(f"   {name:36} {ms(st['median_s'])} {ms(st['p10_s'])} {ms(st['p90_s'])} "
              f"{'' if over is None else f'{over:+.1f}':>13} "
              f"{'' if site is None else f'{site:+.1f}':>10}")


def print_batch(part: dict[str, Any]) -> None:
    print(f"\n2. One candidate x {part['examples']} doctest examples (matrix_job), "
          f"{next(iter(part['cases'].values()))['runs']} runs each; "
          f"load {part['load_before']} -> {part['load_after']}")
    print(f"   {'case':36} {'median ms':>9} {'p10 ms':>9} {'p90 ms':>9} "
          f"{'+ms vs unsafe':>13} {'+ms vs unsafe /usr/bin':>22}")
    for name, st in part["cases"].items():
        over = part["overhead_ms"].get(name)
        system = part["overhead_vs_system_python_ms"].get(name)
        print(f"   {name:36} {ms(st['median_s'])} {ms(st['p10_s'])} {ms(st['p90_s'])} "
              f"{'(baseline)' if over is None else f'{over:+.1f}':>13} "
              f"{'' if system is None else f'{system:+.1f}':>22}")


def print_fill(part: dict[str, Any]) -> None:
    first = next(iter(part["backends"].values()))
    print(f"\n3. `codegen-hook fill --check --json` on examples/strings.py, medians of "
          f"{len(first['runs'])} runs; load {part['load_before']} -> {part['load_after']}")
    print(f"   {'backend':8} {'total s':>8} {'generate s':>10} {'checks s':>8} "
          f"{'sandbox s':>9} {'share':>7} {'wall s':>7} {'sandbox runs':>12}  "
          f"goal <= {part['goal_share']:.0%}")
    for backend, row in part["backends"].items():
        runs = "/".join(str(r["sandbox_runs"]) for r in row["runs"])
        print(f"   {backend:8} {row['total_s']:8.2f} {row['generate_s']:10.2f} "
              f"{row['checks_s']:8.2f} {row['sandbox_s']:9.3f} {row['share']:7.1%} "
              f"{row['wall_s']:7.2f} {runs:>12}  {'met' if row['goal_met'] else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per case (1, 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per case (1, 2)")
    parser.add_argument("--fill-runs", type=int, default=3, help="timed fills per backend")
    parser.add_argument("--backends", default="bwrap,docker", help="comma-separated")
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-fill", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.runs < 1 or args.fill_runs < 1 or args.warmup < 0:
        parser.error("--runs and --fill-runs must be at least 1, --warmup at least 0")
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not wanted or any(b not in ("bwrap", "docker") for b in wanted):
        parser.error("--backends takes bwrap and/or docker")
    sandboxes, missing = make_sandboxes(wanted)
    figures: dict[str, Any] = {
        "cpus": os.cpu_count(), "load_at_start": load_average(),
        "python": {"system": subprocess.run([SYSTEM_PYTHON, "-V"], capture_output=True,
                                            text=True).stdout.strip(),
                   "sys_executable": f"{sys.executable} ({sys.version.split()[0]})",
                   "bwrap_sandbox": getattr(sandboxes.get("bwrap"), "python", None)},
        "unavailable": missing}
    try:
        with tempfile.TemporaryDirectory(prefix="codegen-hook-overhead-") as tmp:
            if not args.skip_startup:
                log("part 1: start-up")
                figures["startup"] = measure_startup(sandboxes, args.runs, args.warmup)
            if not args.skip_batch:
                log("part 2: candidate x tests batch")
                figures["batch"] = measure_batch(sandboxes, args.runs, args.warmup, Path(tmp))
            if not args.skip_fill and sandboxes:
                log("part 3: fill")
                figures["fill"] = measure_fill(list(sandboxes), args.fill_runs, Path(tmp))
    except BenchmarkError as exc:
        print(f"sandbox_overhead: {exc}", file=sys.stderr)
        return 1
    figures["load_at_end"] = load_average()
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"Sandbox overhead: {figures['cpus']} CPUs, load {figures['load_at_start']} at start, "
          f"{figures['load_at_end']} at end; system {figures['python']['system']}, "
          f"sys.executable {figures['python']['sys_executable']}")
    for name, why in missing.items():
        print(f"   {name}: unavailable: {why}")
    if "startup" in figures:
        print_startup(figures["startup"])
    if "batch" in figures:
        print_batch(figures["batch"])
    if "fill" in figures:
        print_fill(figures["fill"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
