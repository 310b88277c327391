"""The command line: parse, call the library, render, map errors to exit codes.

Exit codes: 0 nothing to do or all done; 1 a file was changed or a stub was not
verified under `on_failure: block` (what pre-commit needs); 2 an error that stopped
the run (its message says what to do).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codegen_hook import __version__
from codegen_hook.atomic import write_atomic
from codegen_hook.config import Settings, data_dir, find_config_root, resolve_settings
from codegen_hook.errors import CodegenHookError, ConfigError, SourceError
from codegen_hook.pipeline.outcome import Event
from codegen_hook.pipeline.run import FillReport
from codegen_hook.security.egress import install_egress_guard
from codegen_hook.security.perms import PRIVATE_UMASK, private_folder

__all__ = ["build_parser", "main"]


def _progress_bar(label: str) -> Any:
    state = {"last": 0.0}

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - state["last"] < 0.2:
            return
        state["last"] = now
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{done >> 20}/{total >> 20} MiB")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


def _count_bar(label: str) -> Any:
    state = {"last": 0.0}

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - state["last"] < 0.2:
            return
        state["last"] = now
        sys.stderr.write(f"\r{label} {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


def _show_event(event: Event) -> None:
    name = f"{event.file}::{event.qualname}"
    if event.kind == "index":
        print(f"codegen-hook: {event.message}", file=sys.stderr)
    elif event.kind == "start":
        print(f"codegen-hook: filling {name} ({event.message})", file=sys.stderr)
    elif event.kind == "round":
        print(f"codegen-hook:   {event.message}", file=sys.stderr)
    else:
        print(f"codegen-hook:   {name}: {event.message}", file=sys.stderr)


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="known model name or path to a .gguf file")
    parser.add_argument("--backend", choices=("llama-cpp", "openai"))
    parser.add_argument("--openai-base-url", help="OpenAI-compatible server, e.g. "
                        "http://127.0.0.1:11434/v1")
    parser.add_argument("--openai-model", help="model name on that server")
    parser.add_argument("--allow-remote-host", action="append", dest="allow_remote_hosts",
                        help="let the backend reach this non-loopback host (https only)")
    parser.add_argument("--ca-bundle", help="PEM file of extra CAs to trust for https")
    parser.add_argument("--client-cert", help="PEM client certificate for https (may hold "
                        "its key)")
    parser.add_argument("--client-key", help="the client certificate's key, if separate")
    _add_sandbox_flags(parser)


def _add_sandbox_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sandbox", choices=("auto", "docker", "bwrap"),
                        help="where generated code runs (auto: docker if its image is "
                        "built, else bwrap)")
    parser.add_argument("--unsafe-no-sandbox", action="store_const", const=True,
                        help="run generated code WITHOUT a sandbox (dangerous)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codegen-hook",
        description="Fill Python stubs with a local model, proven in a sandbox.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    fill = sub.add_parser("fill", help="fill the stubs in FILES (the pre-commit hook's entry)")
    fill.add_argument("files", nargs="*", type=Path, help="Python files (default: none)")
    fill.add_argument("--check", action="store_true", help="report only; write nothing")
    fill.add_argument("--json", action="store_true", help="print one JSON document")
    fill.add_argument("--on-failure", choices=("block", "warn"))
    fill.add_argument("--max-rounds", type=int, help="generation rounds (first + repairs)")
    fill.add_argument("--candidates", type=int, help="candidates in the first round")
    fill.add_argument("--write-unverified", action="store_const", const=True,
                      help="also write code that could not be verified")
    _add_settings_flags(fill)

    run = sub.add_parser("exec", help="run FILE in the sandbox and report its output")
    run.add_argument("file", type=Path)
    run.add_argument("--timeout", type=float, help="wall seconds (default 10)")
    run.add_argument("--memory", type=int, dest="memory_mb", help="memory limit in MB")
    run.add_argument("--json", action="store_true")
    _add_sandbox_flags(run)

    box = sub.add_parser("sandbox", help="manage the docker sandbox image")
    box_sub = box.add_subparsers(dest="sandbox_command", required=True)
    build = box_sub.add_parser("build", help="build the sandbox image")
    build.add_argument("--offline", action="store_true",
                       help="no registry: debootstrap a Debian rootfs and docker import it")
    build.add_argument("--image", help="tag to build (default: the docker_image setting)")

    _add_index_parsers(sub)

    key = sub.add_parser("key", help="the key that encrypts what codegen-hook stores")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    init = key_sub.add_parser("init", help="make the key ring (a key file, or --passphrase)")
    init.add_argument("--passphrase", action="store_true", help="protect it with a "
                      "passphrase (prompted, or CODEGEN_HOOK_PASSPHRASE)")
    key_sub.add_parser("status", help="where the key comes from and what the ring holds")
    rotate = key_sub.add_parser("rotate", help="a new key-encryption key re-wraps the data "
                                "keys (safe to run again if interrupted)")
    rotate.add_argument("--reencrypt", action="store_true", help="also a new data key, and "
                        "re-encrypt the data dir and this repository's index with it")
    rotate.add_argument("--new-passphrase", action="store_true",
                        help="protect the ring with a new passphrase (prompted)")
    export = key_sub.add_parser("export", help="write the data keys to FILE, wrapped with "
                                "an export passphrase (prompted)")
    export.add_argument("file", type=Path)
    imp = key_sub.add_parser("import", help="take the data keys from an exported FILE")
    imp.add_argument("file", type=Path)
    for each in (init, rotate, export, imp, key_sub.choices["status"]):
        each.add_argument("--json", action="store_true")

    audit = sub.add_parser("audit", help="the audit log: one encrypted, hash-chained entry "
                           "per stub filled")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    show = audit_sub.add_parser("show", help="print the entries")
    show.add_argument("--last", type=int, help="only the last N entries")
    show.add_argument("--json", action="store_true")
    verify = audit_sub.add_parser("verify", help="check the chain: altered, removed or "
                                  "reordered entries (exit 1 if any)")
    verify.add_argument("--json", action="store_true")

    model = sub.add_parser("model", help="your own models (private GGUF files)")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    add = model_sub.add_parser("add", help="keep a GGUF in the data dir as NAME")
    add.add_argument("path", type=Path)
    add.add_argument("--name", required=True, help="what --model will call it")
    add.add_argument("--encrypt", action="store_true", help="store it AES-256-GCM encrypted; "
                     "it is decrypted into memory only when loaded")
    add.add_argument("--json", action="store_true")
    listing = model_sub.add_parser("list", help="the built-in and your own models")
    listing.add_argument("--json", action="store_true")

    doctor = sub.add_parser("doctor", help="say which model, backend and sandbox work here")
    doctor.add_argument("--json", action="store_true")
    _add_settings_flags(doctor)
    return parser


def _add_index_parsers(sub: Any) -> None:
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


def _settings(args: argparse.Namespace) -> tuple[Settings, Path]:
    root = find_config_root(Path.cwd())
    keys = ("model", "backend", "openai_base_url", "openai_model", "allow_remote_hosts",
            "ca_bundle", "client_cert", "client_key",
            "unsafe_no_sandbox", "sandbox", "on_failure", "max_rounds", "candidates",
            "write_unverified", "timeout", "memory_mb")
    flags = {key: getattr(args, key) for key in keys if hasattr(args, key)}
    settings = resolve_settings(root, flags=flags)
    private_folder(data_dir(settings))
    # From here on this process connects only to loopback and the hosts the user listed.
    install_egress_guard(settings.allow_remote_hosts)
    return settings, root


def _warn_unsafe(settings: Settings) -> None:
    if settings.unsafe_no_sandbox:
        print("codegen-hook: WARNING: --unsafe-no-sandbox: generated code runs with your "
              "user's full rights, network and files", file=sys.stderr)


def _cmd_fill(args: argparse.Namespace) -> int:
    from codegen_hook.backends import make_backend
    from codegen_hook.checks import make_checks
    from codegen_hook.isolation import Sandbox, select_sandbox
    from codegen_hook.pipeline.run import fill_paths

    settings, root = _settings(args)
    _warn_unsafe(settings)
    home = data_dir(settings)
    notices: list[str] = []

    def sandbox() -> Sandbox:
        chosen = select_sandbox(settings, notices)
        for notice in notices:
            print(f"codegen-hook: {notice}", file=sys.stderr)
        return chosen

    checks = make_checks(settings.checks, settings.style)
    progress = None if args.json else _show_event
    report = fill_paths(
        [Path(p) for p in args.files], settings, root, home / "cache",
        make_backend=lambda: make_backend(settings, home, _progress_bar("assembling model")),
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
            tests = sum(t["passed"] for t in outcome.tests)
            where = f"{outcome.file}:{outcome.line}: {outcome.qualname}"
            state = ("written" if outcome.written else
                     "not written (--check)" if report.check_only and outcome.body else
                     "left as it was")
            print(f"{where}: {outcome.verdict} ({tests}/{len(outcome.tests)} examples passed, "
                  f"{len(outcome.checks)} findings, {outcome.attempts} candidates, "
                  f"{outcome.timings.get('total_s', 0):.1f} s, sandbox {outcome.sandbox or '-'})"
                  f"; {state}")
            for reason in outcome.reasons:
                print("    " + reason.replace("\n", "\n    "))
            if report.check_only and outcome.code:
                shown = "".join(f"    | {line}\n" for line in outcome.code.splitlines())
                print("    proposed:\n" + shown, end="")
    if report.audit_error:
        print(f"codegen-hook: {report.audit_error}")
    if report.changed_files:
        print("codegen-hook: filled stubs in " + ", ".join(report.changed_files) +
              "; review the diff, stage it and commit again")
    elif report.blocking(settings.on_failure):
        print("codegen-hook: some stubs could not be verified; the commit is blocked "
              "(set on_failure: warn to let it through)")


def _cmd_exec(args: argparse.Namespace) -> int:
    from codegen_hook.isolation import SandboxJob, select_sandbox

    settings, _ = _settings(args)
    _warn_unsafe(settings)
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
        progress=None if args.json else _count_bar("codegen-hook: parsing new or changed files"))
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


def _ask(prompt: str, confirm: bool = False) -> str:
    import getpass

    if not sys.stdin.isatty():
        raise ConfigError(f"{prompt.rstrip(': ')} is needed but there is no terminal to ask "
                          "on; set CODEGEN_HOOK_PASSPHRASE")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("again: ") != first:
        raise ConfigError("the two passphrases differ; nothing was changed, try again")
    return first


def _export_passphrase() -> str:
    return os.environ.get("CODEGEN_HOOK_EXPORT_PASSPHRASE") or _ask(
        "export passphrase: ", confirm=True)


def _cmd_key(args: argparse.Namespace) -> int:
    from codegen_hook.security import keys

    settings, root = _settings(args)
    home = data_dir(settings)
    key_file = Path(settings.key_file).expanduser() if settings.key_file else None
    common: dict[str, Any] = {"key_file": key_file}
    if args.key_command == "status":
        result: Any = keys.key_status(home, **common)
    elif args.key_command == "init":
        ask = (lambda: os.environ.get("CODEGEN_HOOK_PASSPHRASE") or _ask(
            "new passphrase: ", confirm=True)) if args.passphrase else None
        result = keys.init_keys(home, passphrase=ask, **common)
    elif args.key_command == "rotate":
        new = _ask("new passphrase: ", confirm=True) if args.new_passphrase else None
        store = root / ".codegen-hook"
        result = keys.rotate_keys(
            home, passphrase=lambda: _ask("passphrase: "), new_passphrase=new,
            reencrypt=args.reencrypt, roots=[store] if store.is_dir() else [], **common)
    elif args.key_command == "export":
        keys.export_keys(home, args.file, _export_passphrase(),
                         passphrase=lambda: _ask("passphrase: "), **common)
        result = {"exported": str(args.file)}
    else:
        result = keys.import_keys(home, args.file, os.environ.get(
            "CODEGEN_HOOK_EXPORT_PASSPHRASE") or _ask("export passphrase: "),
            passphrase=lambda: _ask("passphrase: "), **common)
    data = result if isinstance(result, dict) else result.to_json()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for name, value in data.items():
            print(f"{name}: {value}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from codegen_hook.security.audit import AuditLog
    from codegen_hook.security.codec import codec_for

    settings, _ = _settings(args)
    home = data_dir(settings)
    log = AuditLog(home / "audit", codec_for(settings, home, create=False))
    if args.audit_command == "show":
        entries = log.entries()
        if args.last is not None:
            entries = entries[-args.last:] if args.last > 0 else []
        if args.json:
            print(json.dumps([e.to_json() for e in entries], indent=2))
        else:
            for entry in entries:
                print(entry.summary())
            if not entries:
                print("codegen-hook: the audit log is empty")
        return 0
    verdict = log.verify()
    if args.json:
        print(json.dumps({"ok": verdict.ok, "entries": verdict.entries,
                          "problems": verdict.problems, "notes": verdict.notes,
                          "last_hash": verdict.last_hash}, indent=2))
    else:
        for line in verdict.problems:
            print(f"problem: {line}")
        for line in verdict.notes:
            print(f"note: {line}")
        state = "intact" if verdict.ok else "NOT intact"
        print(f"codegen-hook: audit log {state}: {verdict.entries} entries; last hash "
              f"{verdict.last_hash} (keep a copy elsewhere to detect a rollback)")
    return 0 if verdict.ok else 1


def _cmd_model(args: argparse.Namespace) -> int:
    from codegen_hook.models import KNOWN_MODELS, add_private_model, list_private_models

    settings, _ = _settings(args)
    home = data_dir(settings)
    if args.model_command == "add":
        sealer = None
        if args.encrypt:
            from codegen_hook.security.codec import codec_for
            sealer = codec_for(settings, home)
        model = add_private_model(args.path, args.name, home, sealer,
                                  None if args.json else _progress_bar("storing model"))
        if args.json:
            print(json.dumps(model.to_json(), indent=2))
        else:
            print(f"codegen-hook: stored {args.path} as model {model.name!r} "
                  f"({'encrypted' if model.encrypted else 'not encrypted'}, sha256 "
                  f"{model.sha256[:16]}…); use it with --model {model.name}")
        return 0
    private = list_private_models(home)
    if args.json:
        print(json.dumps({"built_in": sorted(KNOWN_MODELS),
                          "private": [m.to_json() for m in private]}, indent=2))
        return 0
    for name in KNOWN_MODELS:
        print(f"{name}  (built in)")
    for m in private:
        print(f"{m.name}  ({'encrypted' if m.encrypted else 'plain'}, {m.size >> 20} MiB, "
              f"sha256 {m.sha256[:16]}…)")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from codegen_hook.doctor import diagnose

    settings, root = _settings(args)
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

    settings, _ = _settings(args)
    image = args.image or settings.docker_image
    print(f"codegen-hook: building {image} ({'offline' if args.offline else 'registry'}); "
          "this takes a minute or two", file=sys.stderr)
    print(build_image(offline=args.offline, image=image))
    return 0


_COMMANDS = {"fill": _cmd_fill, "exec": _cmd_exec, "doctor": _cmd_doctor,
             "sandbox": _cmd_sandbox, "index": _cmd_index, "search": _cmd_search,
             "style": _cmd_style, "model": _cmd_model, "audit": _cmd_audit,
             "key": _cmd_key}


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
