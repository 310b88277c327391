"""How fast the repository index is, against the floor: a bare `ast.parse` loop.

    .venv/bin/python benchmarks/index.py [--tree PATH]... [--changes N] [--jobs N] [--json]

Default trees: the Python standard library's own source (`sysconfig` stdlib path,
`site-packages` left out) and, when installed (`pip install sympy`), sympy's package
folder, a large pure-Python package from PyPI. Each tree is first copied to a temp
folder (so a file can be changed), then, in this order, in one run:

1. bare loop: one process reads every file the index would cover and `ast.parse`s it;
2. cold: `refresh_index` into an empty store (parallel extraction + writing the store);
3. warm: `refresh_index` again with nothing changed (goal <= 1 s for the stdlib);
4. one changed file: a line appended to one mid-sized file, `refresh_index`, N times
   (goal <= 200 ms each; the median and worst are printed);
5. the bare loop again, to show how much the machine's noise moved it.

The store is sealed with AES-256-GCM, as the hook writes it (`--plain` for the plain
codec). Printed: seconds, lines/s, and cold / bare (goal <= 1.5). Timings are wall
clock on a shared 2-core machine: run it when the machine is otherwise idle.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codegen_hook.index.build import refresh_index  # noqa: E402
from codegen_hook.index.files import list_python_files  # noqa: E402
from codegen_hook.index.store import Codec, PlainCodec  # noqa: E402
from codegen_hook.security.keys import open_codec  # noqa: E402


def default_trees() -> list[tuple[str, Path, tuple[str, ...]]]:
    trees = [("stdlib", Path(sysconfig.get_paths()["stdlib"]), ("site-packages/*",))]
    try:
        import sympy
        trees.append(("sympy", Path(sympy.__file__).parent, ()))
    except ImportError:
        print("(sympy not installed: `pip install sympy` to measure a large PyPI package)",
              file=sys.stderr)
    return trees


def copy_tree(source: Path, target: Path, exclude: tuple[str, ...]) -> list[str]:
    listing = list_python_files(source, exclude, use_git=False)
    for rel in listing.files:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, dest)
    return listing.files


def bare_loop(root: Path, files: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    lines = 0
    for rel in files:
        data = (root / rel).read_bytes()
        lines += data.count(b"\n")
        try:
            ast.parse(data)
        except (SyntaxError, ValueError):
            pass
    return time.perf_counter() - start, lines


def timed_refresh(root: Path, store: Path, jobs: int | None,
                  codec: Codec) -> tuple[float, Any]:
    start = time.perf_counter()
    report = refresh_index(root, store, jobs=jobs, max_file_bytes=10_000_000, codec=codec)
    return time.perf_counter() - start, report


def measure(name: str, source: Path, exclude: tuple[str, ...], changes: int,
            jobs: int | None, plain: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="codegen-hook-bench-") as tmp:
        root, store = Path(tmp) / "tree", Path(tmp) / "store"
        codec: Codec = PlainCodec() if plain else open_codec(
            Path(tmp) / "data", key_file=Path(tmp) / "key")
        files = copy_tree(source, root, exclude)
        bare_s, lines = bare_loop(root, files)
        cold_s, cold = timed_refresh(root, store, jobs, codec)
        warm_s, warm = timed_refresh(root, store, jobs, codec)
        sizes = sorted(files, key=lambda rel: (root / rel).stat().st_size)
        victim = root / sizes[len(sizes) // 2]
        change_s = []
        for i in range(changes):
            with victim.open("a") as handle:
                handle.write(f"\n# benchmark change {i}\n")
            seconds, report = timed_refresh(root, store, jobs, codec)
            assert report.parsed == 1, report.to_json()
            change_s.append(seconds)
        bare2_s, _ = bare_loop(root, files)
    return {
        "tree": name, "source": str(source), "files": len(files), "lines": lines,
        "indexed": cold.files, "skipped": len(cold.skipped), "workers": cold.workers,
        "bare_s": round(bare_s, 3), "bare_lines_per_s": round(lines / bare_s),
        "cold_s": round(cold_s, 3), "cold_lines_per_s": round(lines / cold_s),
        "cold_over_bare": round(cold_s / bare_s, 3),
        "warm_s": round(warm_s, 3), "warm_parsed": warm.parsed,
        "changed_file": str(victim.relative_to(root)),
        "change_median_s": round(statistics.median(change_s), 4) if change_s else None,
        "change_max_s": round(max(change_s), 4) if change_s else None,
        "bare_again_s": round(bare2_s, 3), "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2), "codec": codec.name,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", type=Path, help="a folder to index "
                        "(repeatable; default: the stdlib and sympy)")
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--jobs", type=int, help="parser processes (default: one per core)")
    parser.add_argument("--plain", action="store_true", help="unencrypted store")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    trees = ([(p.name, p, ()) for p in args.tree] if args.tree else default_trees())
    results = [measure(name, path, exclude, args.changes, args.jobs, args.plain)
               for name, path, exclude in trees]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(f"{r['tree']}: {r['files']} files, {r['lines']:,} lines ({r['indexed']} indexed, "
              f"{r['skipped']} skipped), {r['workers']} processes, store {r['codec']}, "
              f"load {r['loadavg_1m']}")
        print(f"  bare ast.parse loop  {r['bare_s']:7.2f} s  {r['bare_lines_per_s']:>9,} lines/s"
              f"   (again at the end: {r['bare_again_s']:.2f} s)")
        print(f"  cold index           {r['cold_s']:7.2f} s  {r['cold_lines_per_s']:>9,} lines/s"
              f"   cold/bare = {r['cold_over_bare']:.2f}  (goal <= 1.5)")
        print(f"  warm, no change      {r['warm_s']:7.3f} s  (goal <= 1 s; parsed "
              f"{r['warm_parsed']})")
        print(f"  one changed file     {r['change_median_s']:7.3f} s median, "
              f"{r['change_max_s']:.3f} s worst  (goal <= 0.2 s; {r['changed_file']})")


if __name__ == "__main__":
    main()
