"""finetune: a LoRA adapter trained on the repository's own training pairs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from codegen_hook.config import data_dir, find_config_root, resolve_settings
from codegen_hook.errors import SourceError
from codegen_hook.security.egress import install_egress_guard
from codegen_hook.security.perms import private_folder

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    parser = sub.add_parser(
        "finetune", help="train a LoRA adapter on the repository's training pairs (needs "
        "the finetune extra and `codegen-hook dataset build` first)")
    parser.add_argument("path", nargs="?", type=Path, help="repository (default: the repo "
                        "root)")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps (default 200)")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    parser.add_argument("--alpha", type=float, default=16.0, help="LoRA alpha (default 16)")
    parser.add_argument("--lr", type=float, default=2e-4, help="learning rate (default 2e-4)")
    parser.add_argument("--max-length", type=int, default=1024, metavar="TOKENS",
                        help="prompt + answer tokens per example (default 1024)")
    parser.add_argument("--grad-accum", type=int, default=1, metavar="N",
                        help="examples per optimizer step (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="shuffle and init seed")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: "
                        "torch's choice)")
    parser.add_argument("--base", type=Path, help="base model: a GGUF file or a Hugging Face "
                        "checkpoint folder (default: the configured model's GGUF)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def _show_step(step: Any) -> None:
    print(f"codegen-hook: step {step.step}/{step.steps}  loss {step.loss:.4f}  "
          f"{step.seconds:.1f} s  ({step.tokens} answer tokens)", file=sys.stderr, flush=True)


def _cmd_finetune(args: argparse.Namespace) -> int:
    from codegen_hook.finetune.dataset import load_dataset
    from codegen_hook.finetune.train import (TrainConfig, adapter_path, base_model_path,
                                             finetune)
    from codegen_hook.security.codec import codec_for

    root = (args.path or find_config_root(Path.cwd())).resolve()
    if not root.is_dir():
        raise SourceError(f"{root} is not a folder; pass the repository's folder")
    settings = resolve_settings(root)
    install_egress_guard(settings.allow_remote_hosts)
    home = private_folder(data_dir(settings))
    config = TrainConfig(steps=args.steps, rank=args.rank, alpha=args.alpha, lr=args.lr,
                         max_length=args.max_length, grad_accum=args.grad_accum,
                         seed=args.seed, threads=args.threads).validated()
    pairs = load_dataset(root, settings, "train")
    heldout = load_dataset(root, settings, "heldout")
    base = base_model_path(settings, home, args.base)
    codec = codec_for(settings, home)
    target = adapter_path(root, settings)
    private_folder(target.parent.parent)
    print(f"codegen-hook: training a rank-{config.rank} LoRA on {len(pairs)} pairs of "
          f"{root} for {config.steps} steps, base {base} (loading it takes about a minute "
          "on CPU)", file=sys.stderr, flush=True)
    result = finetune(pairs, base=base, config=config, target=target, sealer=codec,
                      progress=_show_step, heldout=heldout)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    summary = result.training
    print(f"codegen-hook: trained {summary['steps']} steps on {summary['examples']} examples "
          f"({summary['device']}, {summary['train_seconds']:.0f} s training, "
          f"{summary['load_seconds']:.0f} s loading); loss {summary['start_loss']:.3f} → "
          f"{summary['end_loss']:.3f} (means of the first and last {summary['loss_window']} "
          f"steps; all steps {summary['mean_loss']:.3f})")
    if summary.get("heldout_loss_before") is not None:
        print(f"codegen-hook: held-out loss ({summary['heldout_examples']} pairs of files "
              f"never trained on): {summary['heldout_loss_before']:.3f} without the adapter, "
              f"{summary['heldout_loss_after']:.3f} with it")
    if summary["skipped"] or summary["truncated"]:
        print(f"codegen-hook: {summary['skipped']} pairs left out and {summary['truncated']} "
              f"cut short by --max-length {config.max_length}")
    print(f"codegen-hook: adapter stored encrypted at {result.adapter} "
          f"({result.size / 2**20:.1f} MiB of GGUF)")
    print("To use it, put this line in .codegen-hook.yaml (or lora_path = \"…\" in "
          "[tool.codegen-hook]), or set CODEGEN_HOOK_LORA_PATH:")
    print(f"lora_path: {result.adapter}")
    return 0


COMMANDS = {"finetune": _cmd_finetune}
