"""What each static check costs on one candidate: flake8, mypy and Pyre on the same
spliced module, in one run, alternating order; medians printed (never asserted).

    .venv/bin/python benchmarks/checks_cost.py [--runs N] [--pyre PATH] [--json]

The module is `examples/text.py` with every stub filled by a known-good body, the way
a fill checks a candidate (the checks see the whole module, report only the body's
lines). Pyre is looked for as the "pyre" check looks for it (`--pyre`, then beside
this Python, then PATH; .ci/run puts it in .venv-pyre).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from codegen_hook.checks.base import Check, CheckContext
from codegen_hook.checks.pyre import PyreCheck, find_pyre
from codegen_hook.checks.tools import Flake8Check, MypyCheck
from codegen_hook.errors import ConfigError
from codegen_hook.stubs import find_stubs, splice_bodies

ROOT = Path(__file__).resolve().parents[1]


def module() -> tuple[str, int, int]:
    """The example module with its first stub filled, and that body's lines."""
    text = (ROOT / "examples" / "strings.py").read_text("utf-8")
    stub = find_stubs(text).stubs[0]
    body = "return s.count(char)"
    return splice_bodies(text, [(stub, body)], "\n"), stub.ellipsis_line, stub.ellipsis_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pyre", default="")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    checks: dict[str, Check] = {"flake8": Flake8Check(), "mypy": MypyCheck()}
    beside = ROOT / ".venv-pyre" / "bin" / "pyre"
    try:
        checks["pyre"] = PyreCheck(find_pyre(args.pyre or (str(beside) if beside.is_file()
                                                           else "")))
    except ConfigError as exc:
        print(f"pyre left out: {exc}", file=sys.stderr)
    code, first, last = module()
    samples: dict[str, list[float]] = {name: [] for name in checks}
    with tempfile.TemporaryDirectory(prefix="codegen-hook-checks-bench-") as tmp:
        root = Path(tmp)
        context = CheckContext(path=root / "strings.py", root=root, first_line=first,
                               last_line=last, cache_dir=root / "cache")
        for check in checks.values():   # warm-up: mypy builds its base cache once
            check.run(code, context)
        for run in range(args.runs):
            order = list(checks) if run % 2 == 0 else list(checks)[::-1]
            for name in order:
                start = time.perf_counter()
                findings = checks[name].run(code, context)
                samples[name].append(time.perf_counter() - start)
                if findings:
                    raise SystemExit(f"{name} found {findings} in known-good code")
    medians = {name: statistics.median(s) for name, s in samples.items()}
    if args.json:
        print(json.dumps({"runs": args.runs, "median_s": medians,
                          "load": os.getloadavg()}, indent=2))
        return
    print(f"one candidate, {args.runs} runs each, load {os.getloadavg()[0]:.2f}")
    for name, value in medians.items():
        print(f"  {name:7s} median {value:6.3f} s  (min {min(samples[name]):.3f}, "
              f"max {max(samples[name]):.3f})")


if __name__ == "__main__":
    main()
