"""One sandbox start for every candidate against every test, against one start per
candidate: measured, printed (never asserted in a test).

    .venv/bin/python benchmarks/matrix.py [--runs N] [--warmup N] [--json]

The stub has ten doctest examples; five different correct bodies are spliced in. Case
"matrix" is one `matrix_job` (5 candidates x 10 doctest-kind tests) through
`BwrapSandbox`, timed around build + `Sandbox.run` + `read_matrix`; case "examples x 5"
is five one-candidate `matrix_job` runs, one sandbox start per candidate, timed the
same way. Rounds alternate
the order of the two cases; medians, p10 and p90 are printed with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codegen_hook.config import Settings
from codegen_hook.isolation.base import Sandbox
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.pipeline.matrix import matrix_job, read_matrix
from codegen_hook.pipeline.spec import SpecTest, docstring_examples
from codegen_hook.stubs import Stub, find_stubs, splice_bodies

MODULE = '''\
"""A module with one stub for the matrix benchmark."""


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
    >>> print(run_length("xyz"))
    1x1y1z
    >>> run_length(None)
    Traceback (most recent call last):
      ...
    TypeError: 'NoneType' object is not iterable
    """
    ...
'''
TESTS = 10
BODIES = [
    '''runs: list[tuple[str, int]] = []
for char in s:
    if runs and runs[-1][0] == char:
        runs[-1] = (char, runs[-1][1] + 1)
    else:
        runs.append((char, 1))
return "".join(f"{count}{char}" for char, count in runs)
''',
    '''import itertools
return "".join(f"{len(list(group))}{char}" for char, group in itertools.groupby(s))
''',
    '''out = []
i = 0
chars = list(s)
while i < len(chars):
    j = i
    while j < len(chars) and chars[j] == chars[i]:
        j += 1
    out.append(f"{j - i}{chars[i]}")
    i = j
return "".join(out)
''',
    '''import re
iter(s)  # the same TypeError as the other bodies for a non-iterable
return "".join(f"{len(m.group(0))}{m.group(1)}" for m in re.finditer(r"(.)\\1*", s, re.S))
''',
    '''result = ""
prev, count = "", 0
for char in s:
    if char == prev:
        count += 1
        continue
    if count:
        result += f"{count}{prev}"
    prev, count = char, 1
return result + (f"{count}{prev}" if count else "")
''',
]


class BenchmarkError(Exception):
    """A measured run did not do what it should; its time would mean nothing."""


def setup(folder: Path) -> tuple[Stub, Path, list[str], list[SpecTest]]:
    path = folder / "rle_matrix_bench.py"
    path.write_text(MODULE, "utf-8")
    [stub] = find_stubs(MODULE, str(path)).stubs
    modules = [splice_bodies(MODULE, [(stub, body)], "\n") for body in BODIES]
    tests = [SpecTest(e.source, e.want, "docstring", "doctest", e.line)
             for e in docstring_examples(stub)]
    if len(tests) != TESTS:
        raise BenchmarkError(f"expected {TESTS} examples, found {len(tests)}")
    return stub, path, modules, tests


def matrix_case(sandbox: Sandbox, stub: Stub, path: Path, modules: list[str],
                tests: list[SpecTest], settings: Settings) -> Callable[[], None]:
    def once() -> None:
        job, marker = matrix_job(stub, path, modules, tests, timeout=settings.timeout,
                                 memory_mb=settings.memory_mb)
        matrix = read_matrix(sandbox.run(job), marker, len(modules), len(tests))
        passed = [sum(r.passed for r in row) for row in matrix.results]
        if matrix.problem or any(matrix.problems) or passed != [TESTS] * len(modules):
            raise BenchmarkError(f"matrix: passed {passed}; {matrix.problem or matrix.problems}")
    return once


def examples_case(sandbox: Sandbox, stub: Stub, path: Path, modules: list[str],
                  tests: list[SpecTest], settings: Settings) -> Callable[[], None]:
    def once() -> None:
        for spliced in modules:
            job, marker = matrix_job(stub, path, [spliced], tests, timeout=settings.timeout,
                                     memory_mb=settings.memory_mb)
            matrix = read_matrix(sandbox.run(job), marker, 1, len(tests))
            passed = sum(r.passed for r in matrix.results[0])
            if matrix.problems[0] or passed != TESTS:
                raise BenchmarkError(f"examples: {passed}/{TESTS}; {matrix.problems[0]}")
    return once


def measure(cases: dict[str, Callable[[], None]], runs: int,
            warmup: int) -> dict[str, list[float]]:
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(runs):
        order = names if round_no % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            cases[name]()
            samples[name].append(time.perf_counter() - start)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    deciles = statistics.quantiles(samples, n=10, method="inclusive") if len(samples) > 1 \
        else [samples[0]] * 9
    return {"median_s": statistics.median(samples), "p10_s": deciles[0], "p90_s": deciles[-1],
            "min_s": min(samples), "max_s": max(samples), "runs": len(samples)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1, --warmup at least 0")
    settings = Settings()
    sandbox = BwrapSandbox()
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        with tempfile.TemporaryDirectory(prefix="codegen-hook-matrix-bench-") as tmp:
            stub, path, modules, tests = setup(Path(tmp))
            cases = {"matrix": matrix_case(sandbox, stub, path, modules, tests, settings),
                     f"examples x {len(modules)}": examples_case(sandbox, stub, path, modules,
                                                                 tests, settings)}
            samples = measure(cases, args.runs, args.warmup)
    except BenchmarkError as exc:
        print(f"matrix benchmark: {exc}", file=sys.stderr)
        return 1
    figures: dict[str, Any] = {
        "candidates": len(modules), "tests": TESTS, "cpus": os.cpu_count(),
        "load_before": load_before, "load_after": [round(x, 2) for x in os.getloadavg()],
        "cases": {name: summary(s) for name, s in samples.items()}}
    medians = [c["median_s"] for c in figures["cases"].values()]
    figures["speedup"] = medians[1] / medians[0]
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{len(modules)} candidates x {TESTS} doctest examples, bwrap, {args.runs} runs each; "
          f"{figures['cpus']} CPUs, load {figures['load_before']} -> {figures['load_after']}")
    print(f"   {'case':14} {'median ms':>9} {'p10 ms':>9} {'p90 ms':>9}")
    for name, row in figures["cases"].items():
        print(f"   {name:14} {row['median_s'] * 1000:9.1f} {row['p10_s'] * 1000:9.1f} "
              f"{row['p90_s'] * 1000:9.1f}")
    print(f"   one matrix job is {figures['speedup']:.2f}x faster than one job per candidate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
