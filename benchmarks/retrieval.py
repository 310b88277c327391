"""Does retrieval help? The same stubs, cut from a real repository, filled with and
without retrieved repository context; the verified rate of each.

    .venv/bin/python benchmarks/retrieval.py [--limit N] [--budget TOKENS] [--json]
        [--sandbox bwrap|docker] [--package more_itertools]

The repository: the installed `more_itertools` package (`pip install more-itertools`),
copied to a temp folder. The stubs: its module-level functions whose docstring has
`>>>` examples (what lets the hook verify), whose body is at most 15 lines and calls
at least one other function of the package (so the repository has something to
offer). One at a time, a function's body is replaced by `...` (its docstring kept),
the real pipeline fills it (`fill_paths`, check-only, embedded model, real sandbox,
flake8 + mypy + style), and the file is put back. Arm "retrieval": context_tokens =
BUDGET; arm "none": context_tokens = 0. Both arms see the stub's own module context.
The order of the arms alternates per stub. Printed: verified / total per arm, and per
stub the verdicts and whether the helpers the original body calls were retrieved.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codegen_hook.backends import make_backend  # noqa: E402
from codegen_hook.backends.base import Backend  # noqa: E402
from codegen_hook.checks import make_checks  # noqa: E402
from codegen_hook.config import resolve_settings  # noqa: E402
from codegen_hook.isolation import select_sandbox  # noqa: E402
from codegen_hook.pipeline.run import fill_paths  # noqa: E402


def package_functions(package: Path) -> dict[str, set[str]]:
    """Module-level function names per module file of the package."""
    out: dict[str, set[str]] = {}
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        out[path.name] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    return out


def _called(node: ast.AST) -> set[str]:
    return {c.func.id for c in ast.walk(node)
            if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}


def pick_stubs(package: Path, limit: int) -> list[dict[str, Any]]:
    known = set().union(*package_functions(package).values())
    picked = []
    for path in sorted(package.glob("*.py")):
        text = path.read_text("utf-8")
        for node in ast.parse(text).body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            doc = ast.get_docstring(node) or ""
            body = node.body[1:] if doc else node.body
            if ">>>" not in doc or not body:
                continue
            first, last = body[0].lineno, node.end_lineno or body[-1].lineno
            helpers = sorted((_called(node) & known) - {node.name})
            if last - first + 1 > 15 or not helpers or \
                    any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node)):
                continue
            picked.append({"file": path.name, "name": node.name, "first": first,
                           "last": last, "helpers": helpers})
    return picked[:limit]


def cut(text: str, first: int, last: int) -> str:
    lines = text.splitlines(keepends=True)
    indent = lines[first - 1][:len(lines[first - 1]) - len(lines[first - 1].lstrip())]
    return "".join(lines[:first - 1] + [indent + "...\n"] + lines[last:])


def fill_once(repo: Path, target: Path, budget: int, backend: Backend,
              sandbox_name: str) -> dict[str, Any]:
    flags = {"context_tokens": budget, "sandbox": sandbox_name}
    settings = resolve_settings(repo, env={}, flags=flags)
    start = time.perf_counter()
    report = fill_paths([target], settings, repo, repo.parent / "cache",
                        make_backend=lambda: backend,
                        make_sandbox=lambda: select_sandbox(settings),
                        checks=make_checks(settings.checks, settings.style), check_only=True)
    outcome = report.outcomes[0]
    return {"verdict": outcome.verdict, "attempts": outcome.attempts,
            "seconds": round(time.perf_counter() - start, 2),
            "retrieved": outcome.retrieved, "reasons": outcome.reasons[:1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default="more_itertools")
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--budget", type=int, default=400, help="context_tokens when on")
    parser.add_argument("--sandbox", default="bwrap")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    source = Path(importlib.import_module(args.package).__file__ or "").parent
    with tempfile.TemporaryDirectory(prefix="codegen-hook-retrieval-") as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(source, repo / source.name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyi", "py.typed"))
        stubs = pick_stubs(repo / source.name, args.limit)
        settings = resolve_settings(repo, env={})
        backend = make_backend(settings, Path(tmp) / "data")
        rows = []
        for i, stub in enumerate(stubs):
            target = repo / source.name / stub["file"]
            original = target.read_text("utf-8")
            target.write_text(cut(original, stub["first"], stub["last"]), "utf-8")
            arms = [("retrieval", args.budget), ("none", 0)]
            row: dict[str, Any] = {"stub": f"{stub['file']}::{stub['name']}",
                                   "helpers": stub["helpers"]}
            for arm, budget in (arms if i % 2 == 0 else arms[::-1]):
                row[arm] = fill_once(repo, target, budget, backend, args.sandbox)
            target.write_text(original, "utf-8")
            got = {r.rsplit("::", 1)[-1] for r in row["retrieval"]["retrieved"]}
            row["helpers_retrieved"] = sorted(set(stub["helpers"]) & got)
            rows.append(row)
            print(f"[{i + 1}/{len(stubs)}] {row['stub']}: retrieval "
                  f"{row['retrieval']['verdict']}, none {row['none']['verdict']}",
                  file=sys.stderr)
    summary = {arm: sum(r[arm]["verdict"] == "verified" for r in rows)
               for arm in ("retrieval", "none")}
    result = {"package": args.package, "stubs": len(rows), "verified": summary,
              "budget_tokens": args.budget, "sandbox": args.sandbox, "rows": rows}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for r in rows:
        print(f"{r['stub']:<45} retrieval {r['retrieval']['verdict']:<10} "
              f"none {r['none']['verdict']:<10} helpers {','.join(r['helpers'])} "
              f"(retrieved: {','.join(r['helpers_retrieved']) or '-'})")
    n = max(len(rows), 1)
    print(f"verified with retrieval: {summary['retrieval']}/{len(rows)} "
          f"({100 * summary['retrieval'] / n:.0f}%); without: {summary['none']}/{len(rows)} "
          f"({100 * summary['none'] / n:.0f}%)")


if __name__ == "__main__":
    main()
