"""dataset: training pairs (stub → function) from the repository, for fine-tuning."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codegen_hook.cli.common import count_bar
from codegen_hook.config import Settings, data_dir, find_config_root, resolve_settings
from codegen_hook.errors import ConfigError, SourceError
from codegen_hook.security.egress import install_egress_guard
from codegen_hook.security.perms import private_folder

__all__ = ["COMMANDS", "add_parsers"]

_STAGES = {"index": "codegen-hook: parsing new or changed files",
           "files": "codegen-hook: cutting functions into pairs"}


def add_parsers(sub: Any) -> None:
    dataset = sub.add_parser("dataset", help="training pairs (stub → function) from the "
                             "repository, for LoRA fine-tuning; stored encrypted")
    dataset_sub = dataset.add_subparsers(dest="dataset_command", required=True)
    build = dataset_sub.add_parser("build", help="refresh the index, cut functions into "
                                   "pairs, split by file into train and held-out")
    build.add_argument("path", nargs="?", type=Path, help="folder (default: the repo root)")
    build.add_argument("--heldout", type=float, default=0.1, metavar="FRACTION",
                       help="share of files held out for evaluation (default 0.1)")
    build.add_argument("--json", action="store_true", help="print one JSON document")
    show = dataset_sub.add_parser("show", help="decrypt and print the stored pairs")
    show.add_argument("path", nargs="?", type=Path, help="folder (default: the repo root)")
    show.add_argument("--split", choices=("train", "heldout"), default="train",
                      help="which split (default train)")
    show.add_argument("--limit", type=int, metavar="N", help="only the first N pairs")
    show.add_argument("--json", action="store_true", help="print one JSON document")


def _settings(path: Path | None) -> tuple[Path, Settings]:
    root = (path or find_config_root(Path.cwd())).expanduser().resolve()
    if not root.is_dir():
        raise SourceError(f"{root} is not a folder; pass the repository's folder")
    settings = resolve_settings(root)
    private_folder(data_dir(settings))
    install_egress_guard(settings.allow_remote_hosts)
    return root, settings


def _progress() -> Callable[[str, int, int], None]:
    bars: dict[str, Callable[[int, int], None]] = {}

    def show(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = count_bar(_STAGES.get(stage, f"codegen-hook: {stage}"))
        bars[stage](done, total)
    return show


def _cmd_build(args: argparse.Namespace) -> int:
    from codegen_hook.finetune.dataset import build_dataset

    root, settings = _settings(args.path)
    summary = build_dataset(root, settings, heldout_fraction=args.heldout,
                            progress=None if args.json else _progress())
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
        return 0
    skipped = ", ".join(f"{why} {n}" for why, n in sorted(summary.skipped.items())) or "none"
    print(f"codegen-hook: dataset of {root}: {summary.kept} pairs from {summary.functions} "
          f"functions in {summary.files} files ({summary.seconds:.2f} s)\n"
          f"  train {summary.train} ({summary.train_files} files), held-out "
          f"{summary.heldout} ({summary.heldout_files} files)\n"
          f"  skipped: {skipped}; duplicates removed {summary.duplicates}; "
          f"secrets redacted {summary.redactions}\n"
          f"  stored encrypted in {summary.folder}")
    if not summary.heldout:
        print("codegen-hook: the held-out split is empty: every pair comes from one file; "
              "evaluation needs pairs from a second file", file=sys.stderr)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from codegen_hook.finetune.dataset import load_dataset, load_manifest

    if args.limit is not None and args.limit < 0:
        raise ConfigError("--limit must be 0 or more")
    root, settings = _settings(args.path)
    manifest = load_manifest(root, settings)
    pairs = load_dataset(root, settings, args.split)
    shown = pairs if args.limit is None else pairs[:args.limit]
    if args.json:
        print(json.dumps({"root": str(root), "split": args.split, "total": len(pairs),
                          "summary": manifest["summary"],
                          "pairs": [dataclasses.asdict(pair) for pair in shown]}, indent=2))
        return 0
    print(f"codegen-hook: {args.split} split of {root}: {len(pairs)} pairs (built "
          f"{manifest['created']}); showing {len(shown)}")
    for number, pair in enumerate(shown, 1):
        print(f"\n=== {number}. {pair.path}::{pair.qualname}  id {pair.id[:12]}\n"
              f"--- stub\n{pair.stub.rstrip()}\n--- code\n{pair.code.rstrip()}")
    return 0


def _cmd_dataset(args: argparse.Namespace) -> int:
    command: Callable[[argparse.Namespace], int] = \
        _cmd_build if args.dataset_command == "build" else _cmd_show
    return command(args)


COMMANDS = {"dataset": _cmd_dataset}
