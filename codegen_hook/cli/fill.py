"""fill, exec, sandbox and doctor: the hook itself and its machinery."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from codegen_hook.cli.common import (add_sandbox_flags, add_settings_flags, load_settings,
                                     progress_bar, sandbox_factory, show_event, warn_unsafe)
from codegen_hook.config import Settings, data_dir
from codegen_hook.errors import SourceError
from codegen_hook.pipeline.run import FillReport

__all__ = ["COMMANDS", "add_parsers", "add_doctor_parser"]


def add_parsers(sub: Any) -> None:
    fill = sub.add_parser("fill", help="fill the stubs in FILES (the pre-commit hook's entry)")
    fill.add_argument("files", nargs="*", type=Path, help="Python files (default: none)")
    fill.add_argument("--check", action="store_true", help="report only; write nothing")
    fill.add_argument("--json", action="store_true", help="print one JSON document")
    fill.add_argument("--on-failure", choices=("block", "warn"))
    fill.add_argument("--max-rounds", type=int, help="generation rounds (first + repairs)")
    fill.add_argument("--candidates", type=int, help="candidates in the first round")
    fill.add_argument("--write-unverified", action="store_const", const=True,
                      help="also write code that could not be verified")
    fill.add_argument("--write-tests", action="store_const", const=True,
                      help="keep the tests that proved each written body as a pytest file "
                      "(setting tests_path, default tests/test_<module>_codegen.py)")
    add_settings_flags(fill)

    run = sub.add_parser("exec", help="run FILE in the sandbox and report its output")
    run.add_argument("file", type=Path)
    run.add_argument("--timeout", type=float, help="wall seconds (default 10)")
    run.add_argument("--memory", type=int, dest="memory_mb", help="memory limit in MB")
    run.add_argument("--json", action="store_true")
    add_sandbox_flags(run)

    box = sub.add_parser("sandbox", help="manage the docker sandbox image")
    box_sub = box.add_subparsers(dest="sandbox_command", required=True)
    build = box_sub.add_parser("build", help="build the sandbox image")
    build.add_argument("--offline", action="store_true",
                       help="no registry: debootstrap a Debian rootfs and docker import it")
    build.add_argument("--image", help="tag to build (default: the docker_image setting)")


def add_doctor_parser(sub: Any) -> None:
    doctor = sub.add_parser("doctor", help="say which model, backend and sandbox work here")
    doctor.add_argument("--json", action="store_true")
    add_settings_flags(doctor)


def _cmd_fill(args: argparse.Namespace) -> int:
    from codegen_hook.backends import make_backend
    from codegen_hook.checks import checks_from_settings
    from codegen_hook.pipeline.run import fill_paths

    settings, root = load_settings(args)
    warn_unsafe(settings)
    home = data_dir(settings)
    sandbox = sandbox_factory(settings)
    checks = checks_from_settings(settings)
    progress = None if args.json else show_event
    report = fill_paths(
        [Path(p) for p in args.files], settings, root, home / "cache",
        make_backend=lambda: make_backend(settings, home, progress_bar("assembling model")),
        make_sandbox=sandbox, checks=checks,
        check_only=args.check, progress=progress)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        _render_fill(report, settings)
    return 1 if report.blocking(settings.on_failure) else 0


def _render_fill(report: FillReport, settings: Settings) -> None:
    for file in report.files:
        if file.error:
            print(f"{file.path}: {file.error}")
        for skipped in file.skipped:
            print(f"{file.path}:{skipped.line}: {skipped.qualname}: skipped: {skipped.reason}")
        for outcome in file.outcomes:
            tests = sum(t.passed for t in outcome.tests)
            where = f"{outcome.file}:{outcome.line}: {outcome.qualname}"
            state = ("written" if outcome.written else
                     "not written (--check)" if report.check_only and outcome.body else
                     "left as it was")
            evidence = f", evidence {' '.join(outcome.evidence)}" if outcome.evidence else ""
            print(f"{where}: {outcome.verdict} ({tests}/{len(outcome.tests)} examples passed, "
                  f"{len(outcome.checks)} findings, {outcome.attempts} candidates, "
                  f"{outcome.timings.get('total_s', 0):.1f} s, sandbox {outcome.sandbox or '-'}"
                  f"{_style(outcome.style_score)}{evidence})"
                  f"; {state}")
            for reason in outcome.reasons:
                print("    " + reason.replace("\n", "\n    "))
            if report.check_only and outcome.code:
                shown = "".join(f"    | {line}\n" for line in outcome.code.splitlines())
                print("    proposed:\n" + shown, end="")
        if file.tests_file:
            print(f"{file.path}: the tests that proved it: {file.tests_file}")
        if file.tests_note:
            print(f"{file.path}: {file.tests_note}")
    if report.audit_error:
        print(f"codegen-hook: {report.audit_error}")
    if report.changed_files:
        print("codegen-hook: filled stubs in " + ", ".join(report.changed_files) +
              "; review the diff, stage it and commit again")
    elif report.blocking(settings.on_failure):
        print("codegen-hook: some stubs could not be verified; the commit is blocked "
              "(set on_failure: warn to let it through)")


def _style(score: float | None) -> str:
    return "" if score is None else f", style {100 * score:.0f}%"


def _cmd_exec(args: argparse.Namespace) -> int:
    from codegen_hook.isolation import SandboxJob, select_sandbox

    settings, _ = load_settings(args)
    warn_unsafe(settings)
    try:
        text = args.file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{args.file}: cannot read it as UTF-8 text ({exc}); check the "
                          "path") from exc
    result = select_sandbox(settings).run(SandboxJob(
        files={args.file.name: text}, entry=args.file.name, timeout=settings.timeout,
        memory_mb=settings.memory_mb))
    if args.json:
        print(json.dumps({"file": str(args.file), "verdict": result.verdict,
                          "exit_code": result.exit_code, "stdout": result.stdout,
                          "stderr": result.stderr, "seconds": round(result.seconds, 4),
                          "sandbox": result.sandbox, "truncated": result.truncated,
                          "notes": result.notes}, indent=2))
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        print(f"codegen-hook: {result.verdict} (exit {result.exit_code}, "
              f"{result.seconds:.3f} s, sandbox {result.sandbox})"
              + "".join(f"; {n}" for n in result.notes), file=sys.stderr)
    return 0 if result.ok else 1


def _cmd_doctor(args: argparse.Namespace) -> int:
    from codegen_hook.doctor import diagnose

    settings, root = load_settings(args)
    rows = diagnose(settings, data_dir(settings))
    if args.json:
        print(json.dumps({"rows": rows, "config_root": str(root)}, indent=2))
    else:
        width = max(len(r["layer"]) for r in rows)
        for row in rows:
            print(f"{row['layer']:<{width}}  {row['status']:<8}  {row['detail']}")
    return 0


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from codegen_hook.isolation.docker import build_image

    settings, _ = load_settings(args)
    image = args.image or settings.docker_image
    print(f"codegen-hook: building {image} ({'offline' if args.offline else 'registry'}); "
          "this takes a minute or two", file=sys.stderr)
    print(build_image(offline=args.offline, image=image))
    return 0


COMMANDS = {"fill": _cmd_fill, "exec": _cmd_exec, "doctor": _cmd_doctor,
            "sandbox": _cmd_sandbox}
