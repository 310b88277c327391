"""The command line: parse, call the library, render, map errors to exit codes.

The CLI is the only layer that prints. Commands live in `fill` (the hook), `repo`
(index, search, style), `secure` (key, audit, model), `evals` and `ci` (the CI bot).

Exit codes: 0 nothing to do or all done; 1 a file was changed or a stub was not
verified under `on_failure: block` (what pre-commit needs); 2 an error that stopped
the run (its message says what to do).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from codegen_hook import __version__
from codegen_hook.cli import ci, dataset, evals, fill, finetune, repo, secure
from codegen_hook.errors import CodegenHookError
from codegen_hook.security.perms import PRIVATE_UMASK

__all__ = ["build_parser", "main"]

_COMMANDS = {**fill.COMMANDS, **repo.COMMANDS, **secure.COMMANDS, **evals.COMMANDS,
             **ci.COMMANDS, **dataset.COMMANDS, **finetune.COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codegen-hook",
        description="Fill Python stubs with a local model, proven in a sandbox.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    fill.add_parsers(sub)
    repo.add_parsers(sub)
    secure.add_parsers(sub)
    evals.add_parsers(sub)
    ci.add_parsers(sub)
    dataset.add_parsers(sub)
    finetune.add_parsers(sub)
    fill.add_doctor_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Everything this process writes (index, caches, keys, audit log) is for this
    # user alone; a file of the user's that the hook rewrites keeps its own mode.
    previous_umask = os.umask(PRIVATE_UMASK)
    try:
        return _run(args)
    finally:
        os.umask(previous_umask)


def _run(args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.command](args)
    except CodegenHookError as exc:
        print(f"codegen-hook: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `codegen-hook search … | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("codegen-hook: interrupted; files not yet written were left as they were",
              file=sys.stderr)
        return 130
