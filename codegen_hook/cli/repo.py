"""index, search and style: the repository's own index, from the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from codegen_hook.atomic import write_atomic
from codegen_hook.cli.common import count_bar
from codegen_hook.config import data_dir, find_config_root, resolve_settings
from codegen_hook.errors import SourceError
from codegen_hook.security.egress import install_egress_guard

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--store", type=Path, help="where the index lives (default: "
                            "PATH/.codegen-hook/index)")
        parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                            help="leave out paths matching GLOB (relative to PATH)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    index = sub.add_parser("index", help="index the repository (incremental)")
    index.add_argument("path", nargs="?", type=Path, help="folder (default: the repo root)")
    index.add_argument("--export", choices=("json",), help="write the whole index in this "
                       "documented form (docs/index-format.md)")
    index.add_argument("-o", "--output", type=Path, help="file for --export (default stdout)")
    index.add_argument("--rebuild", action="store_true", help="parse every file again")
    index.add_argument("--jobs", type=int, help="parser processes (default: one per core)")
    common(index)

    search = sub.add_parser("search", help="show what retrieval returns for QUERY, and why")
    search.add_argument("query")
    search.add_argument("--path", type=Path, help="repository (default: the repo root)")
    search.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    search.add_argument("--tests", action="store_true", help="include test files")
    common(search)

    style = sub.add_parser("style", help="print the repository's style profile")
    style.add_argument("path", nargs="?", type=Path, help="folder (default: the repo root)")
    common(style)


def _refresh(args: argparse.Namespace, path: Path | None,
             rebuild: bool = False) -> tuple[Path, Any, Any]:
    """Refresh the index of `path` (default: the repo root) for index/search/style."""
    from codegen_hook.index.build import refresh_index
    from codegen_hook.security.codec import codec_for

    root = (path or find_config_root(Path.cwd())).resolve()
    if not root.is_dir():
        raise SourceError(f"{root} is not a folder; pass the repository's folder")
    settings = resolve_settings(root)
    install_egress_guard(settings.allow_remote_hosts)
    codec = codec_for(settings, data_dir(settings))
    report = refresh_index(
        root, args.store, exclude=[*settings.index_exclude, *args.exclude],
        max_file_bytes=settings.index_max_file_bytes, rebuild=rebuild,
        jobs=getattr(args, "jobs", None), codec=codec,
        progress=None if args.json else count_bar("codegen-hook: parsing new or changed files"))
    return root, report, codec


def _cmd_index(args: argparse.Namespace) -> int:
    from codegen_hook.index.build import load_index

    root, report, codec = _refresh(args, args.path, rebuild=args.rebuild)
    if args.export:
        document = json.dumps(load_index(root, args.store, codec).to_json(), indent=1)
        if args.output:
            write_atomic(args.output, (document + "\n").encode())
        else:
            print(document)
        return 0
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    for skipped in report.skipped:
        print(f"{skipped.path}: skipped: {skipped.reason}")
    rate = report.lines_parsed / report.seconds if report.seconds else 0.0
    print(f"codegen-hook: indexed {report.files} files in {report.seconds:.2f} s: "
          f"{report.parsed} parsed ({report.lines_parsed:,} lines, {rate:,.0f} lines/s, "
          f"{report.workers} process{'es' if report.workers != 1 else ''}), "
          f"{report.reused} unchanged, {report.removed} removed, "
          f"{len(report.skipped)} skipped; store {report.store}")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from codegen_hook.index.build import load_index
    from codegen_hook.index.search import SymbolSearch

    root, _, codec = _refresh(args, args.path)
    search = SymbolSearch(load_index(root, args.store, codec), include_tests=args.tests)
    hits = search.named_in(args.query) + search.search(args.query, max(args.k, 1))
    hits = hits[:max(args.k, 1)]
    if args.json:
        print(json.dumps({"query": args.query, "root": str(root),
                          "results": [h.to_json() for h in hits]}, indent=2))
        return 0
    if not hits:
        print(f"codegen-hook: nothing in {root} matches {args.query!r}")
    for rank, hit in enumerate(hits, 1):
        why = hit.reason + (f"; matched {', '.join(hit.matched)}" if hit.matched else "")
        print(f"{rank:>2}. {hit.score:6.2f}  {hit.path}:{hit.symbol.line_start}  "
              f"{hit.symbol.qualname}\n      {hit.symbol.signature}\n      why: {why}")
    return 0


def _cmd_style(args: argparse.Namespace) -> int:
    from codegen_hook.index.build import load_index
    from codegen_hook.index.style import mine_style

    root, _, codec = _refresh(args, args.path)
    profile = mine_style(load_index(root, args.store, codec), root)
    if args.json:
        print(json.dumps(profile.to_json(), indent=2))
    else:
        print("\n".join(profile.summary_lines()))
    return 0


COMMANDS = {"index": _cmd_index, "search": _cmd_search, "style": _cmd_style}
