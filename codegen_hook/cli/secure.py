"""key, audit and model: what keeps stored data private, from the command line."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from codegen_hook.cli.common import ask, load_settings, progress_bar
from codegen_hook.config import data_dir

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
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


def _export_passphrase() -> str:
    return os.environ.get("CODEGEN_HOOK_EXPORT_PASSPHRASE") or ask(
        "export passphrase: ", confirm=True)


def _cmd_key(args: argparse.Namespace) -> int:
    from codegen_hook.security import keys

    settings, root = load_settings(args)
    home = data_dir(settings)
    key_file = Path(settings.key_file).expanduser() if settings.key_file else None
    common: dict[str, Any] = {"key_file": key_file}
    if args.key_command == "status":
        result: Any = keys.key_status(home, **common)
    elif args.key_command == "init":
        prompt_new = (lambda: os.environ.get("CODEGEN_HOOK_PASSPHRASE") or ask(
            "new passphrase: ", confirm=True)) if args.passphrase else None
        result = keys.init_keys(home, passphrase=prompt_new, **common)
    elif args.key_command == "rotate":
        new = ask("new passphrase: ", confirm=True) if args.new_passphrase else None
        store = root / ".codegen-hook"
        result = keys.rotate_keys(
            home, passphrase=lambda: ask("passphrase: "), new_passphrase=new,
            reencrypt=args.reencrypt, roots=[store] if store.is_dir() else [], **common)
    elif args.key_command == "export":
        keys.export_keys(home, args.file, _export_passphrase(),
                         passphrase=lambda: ask("passphrase: "), **common)
        result = {"exported": str(args.file)}
    else:
        result = keys.import_keys(home, args.file, os.environ.get(
            "CODEGEN_HOOK_EXPORT_PASSPHRASE") or ask("export passphrase: "),
            passphrase=lambda: ask("passphrase: "), **common)
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

    settings, _ = load_settings(args)
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

    settings, _ = load_settings(args)
    home = data_dir(settings)
    if args.model_command == "add":
        sealer = None
        if args.encrypt:
            from codegen_hook.security.codec import codec_for
            sealer = codec_for(settings, home)
        model = add_private_model(args.path, args.name, home, sealer,
                                  None if args.json else progress_bar("storing model"))
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


COMMANDS = {"key": _cmd_key, "audit": _cmd_audit, "model": _cmd_model}
