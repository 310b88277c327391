"""ci: the CI bot — fill the stubs a pull / merge request adds, then deliver them."""

from __future__ import annotations

import argparse
import email.utils
import json
import os
import sys
from pathlib import Path
from typing import Any

from codegen_hook.cli.common import (add_settings_flags, load_settings, progress_bar,
                                     sandbox_factory, show_event, warn_unsafe)
from codegen_hook.config import data_dir
from codegen_hook.errors import ConfigError
from codegen_hook.registry import FORGES

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    ci = sub.add_parser("ci", help="CI bot: fill the stubs a pull request adds, then review, "
                        "commit or write a patch")
    ci.add_argument("--base", required=True, help="the target branch's commit (PR base)")
    ci.add_argument("--head", required=True, help="the PR's head commit (checked out)")
    ci.add_argument("--mode", choices=("review", "commit", "patch"), default="review",
                    help="review: suggestions on the PR; commit: push one commit to the "
                    "PR branch; patch: only write the patch (default review)")
    ci.add_argument("--forge", choices=("auto", *FORGES.names(), "none"), default="auto",
                    help="where to post the review (auto: from the CI environment)")
    ci.add_argument("--pr", type=int, help="pull / merge request number (default: from the "
                    "CI environment)")
    ci.add_argument("--all", action="store_true", dest="all_stubs",
                    help="every stub in the head tree, not only those this change adds")
    ci.add_argument("--out", type=Path, default=Path("codegen-hook-out"),
                    help="artifacts: codegen-hook.patch, codegen-hook-report.json, "
                    "summary.md (default ./codegen-hook-out)")
    ci.add_argument("--fail-on-unverified", action="store_true",
                    help="exit 1 when a stub could not be verified")
    ci.add_argument("--author", default="codegen-hook <codegen-hook@users.noreply.invalid>",
                    help="commit author, 'Name <email>'")
    ci.add_argument("--message", default="Fill stubs with codegen-hook",
                    help="the commit's first line (the verification summary follows)")
    ci.add_argument("--remote", default="origin", help="remote to push to (commit mode)")
    ci.add_argument("--branch", default="", help="the PR's branch (commit mode)")
    ci.add_argument("--json", action="store_true", help="print one JSON document")
    add_settings_flags(ci)


def _author(text: str) -> tuple[str, str]:
    name, address = email.utils.parseaddr(text)
    if not name or "@" not in address:
        raise ConfigError(f"--author {text!r}: give it as 'Name <email>'")
    return name, address


def _github_outputs(result: Any) -> None:
    """The job summary and step outputs GitHub Actions reads, when it provides them."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(result.summary + "\n")
    outputs = os.environ.get("GITHUB_OUTPUT")
    if outputs:
        counts = result.counts()
        with open(outputs, "a", encoding="utf-8") as handle:
            for key in ("verified", "unverified", "failed"):
                handle.write(f"{key}={counts[key]}\n")
            handle.write(f"mode={result.mode}\n")
            handle.write(f"patch={result.patch_path or ''}\n")
            handle.write(f"report={result.report_path or ''}\n")


def _cmd_ci(args: argparse.Namespace) -> int:
    from codegen_hook.backends import make_backend
    from codegen_hook.checks import checks_from_settings
    from codegen_hook.ci.deliver import push_credentials
    from codegen_hook.ci.run import CiOptions, run_ci
    from codegen_hook.forges import HttpOptions, forge_from_env, forge_host
    from codegen_hook.forges.base import Forge
    from codegen_hook.security.egress import allow_hosts

    settings, root = load_settings(args)
    warn_unsafe(settings)
    forge: Forge | None = None
    if args.forge != "none" and args.mode != "patch":
        forge = forge_from_env(os.environ, args.forge, pull_number=args.pr, options=HttpOptions(
            ca_bundle=settings.ca_bundle, client_cert=settings.client_cert,
            client_key=settings.client_key))
        host = forge_host(forge)
        if host:
            allow_hosts([host])   # the forge's API host, and no other, joins loopback
    token, username = push_credentials(os.environ, args.forge)
    options = CiOptions(base=args.base, head=args.head, mode=args.mode,
                        all_stubs=args.all_stubs, out_dir=args.out,
                        author=_author(args.author), message=args.message,
                        remote=args.remote, branch=args.branch, token=token,
                        push_username=username)
    home = data_dir(settings)
    sandbox = sandbox_factory(settings)
    result = run_ci(
        root, settings, options, cache_dir=home / "cache",
        make_backend=lambda: make_backend(settings, home, progress_bar("assembling model")),
        make_sandbox=sandbox, checks=checks_from_settings(settings),
        make_forge=(lambda: forge) if forge is not None else None,
        progress=None if args.json else show_event)
    _github_outputs(result)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.summary)
        for line in ([f"patch: {result.patch_path}"] if result.patch_path else []) + [
                f"report: {result.report_path}"]:
            print(line)
        if result.published is not None and result.published.summary_url:
            print(f"review: {result.published.summary_url}")
    if result.error:
        print(f"codegen-hook: error: {result.error}", file=sys.stderr)
        return 2
    counts = result.counts()
    return 1 if args.fail_on_unverified and (counts["unverified"] or counts["failed"]) else 0


COMMANDS = {"ci": _cmd_ci}
