"""What every command shares: settings from flags, progress bars, prompts."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from codegen_hook.config import Settings, data_dir, find_config_root, resolve_settings
from codegen_hook.errors import ConfigError
from codegen_hook.isolation.base import Sandbox
from codegen_hook.pipeline.outcome import Event
from codegen_hook.registry import BACKENDS, SANDBOXES
from codegen_hook.security.egress import install_egress_guard
from codegen_hook.security.perms import private_folder

__all__ = ["add_sandbox_flags", "add_settings_flags", "ask", "count_bar", "load_settings",
           "progress_bar", "sandbox_factory", "show_event", "warn_unsafe"]


def _bar(label: str, render: Callable[[int, int], str]) -> Callable[[int, int], None]:
    """A progress line on stderr, redrawn at most five times a second."""
    state = {"last": 0.0}

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - state["last"] < 0.2:
            return
        state["last"] = now
        sys.stderr.write(f"\r{label} {render(done, total)}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


def progress_bar(label: str) -> Callable[[int, int], None]:
    """Bytes: `label [#####.....] 12/491 MiB`."""
    def render(done: int, total: int) -> str:
        filled = 30 * done // max(total, 1)
        return f"[{'#' * filled}{'.' * (30 - filled)}] {done >> 20}/{total >> 20} MiB"
    return _bar(label, render)


def count_bar(label: str) -> Callable[[int, int], None]:
    """Items: `label 40/92`."""
    return _bar(label, lambda done, total: f"{done}/{total}")


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="known model name or path to a .gguf file")
    parser.add_argument("--backend", choices=BACKENDS.names())
    parser.add_argument("--openai-base-url", help="OpenAI-compatible server, e.g. "
                        "http://127.0.0.1:11434/v1")
    parser.add_argument("--openai-model", help="model name on that server")
    parser.add_argument("--openai-flavor",
                        choices=("auto", "openai", "ollama", "vllm", "llama-cpp-server"),
                        help="the server's kind (auto: asked once, else plain openai)")
    parser.add_argument("--openai-parallel", type=int, metavar="N",
                        help="concurrent requests to a server without `n` (0: auto)")
    parser.add_argument("--langchain-model", metavar="MODULE:FACTORY",
                        help="with --backend langchain: a function returning a LangChain "
                        "chat model, e.g. my_models:make_chat_model")
    parser.add_argument("--allow-remote-host", action="append", dest="allow_remote_hosts",
                        help="let the backend reach this non-loopback host (https only)")
    parser.add_argument("--ca-bundle", help="PEM file of extra CAs to trust for https")
    parser.add_argument("--client-cert", help="PEM client certificate for https (may hold "
                        "its key)")
    parser.add_argument("--client-key", help="the client certificate's key, if separate")
    add_sandbox_flags(parser)


def add_sandbox_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sandbox", choices=("auto", *SANDBOXES.names()),
                        help="where generated code runs (auto: docker if its image is "
                        "built, else bwrap)")
    parser.add_argument("--unsafe-no-sandbox", action="store_const", const=True,
                        help="run generated code WITHOUT a sandbox (dangerous)")
    parser.add_argument("--venv", metavar="DIR", dest="project_venv",
                        help="the project's virtual environment: "
                        "its packages are shown read-only to the sandbox (default: "
                        "$VIRTUAL_ENV, .venv/ or venv/, else this interpreter's)")
    parser.add_argument("--python", metavar="PATH", dest="project_python",
                        help="the project's interpreter (its venv is used, as with --venv)")


def load_settings(args: argparse.Namespace) -> tuple[Settings, Path]:
    root = find_config_root(Path.cwd())
    keys = ("model", "backend", "openai_base_url", "openai_model", "openai_flavor",
            "openai_parallel", "langchain_model", "allow_remote_hosts",
            "ca_bundle", "client_cert", "client_key",
            "unsafe_no_sandbox", "sandbox", "project_venv", "project_python", "on_failure",
            "max_rounds", "candidates",
            "write_unverified", "write_tests", "timeout", "memory_mb")
    flags = {key: getattr(args, key) for key in keys if hasattr(args, key)}
    settings = resolve_settings(root, flags=flags)
    private_folder(data_dir(settings))
    # From here on this process connects only to loopback and the hosts the user listed.
    install_egress_guard(settings.allow_remote_hosts)
    return settings, root


def warn_unsafe(settings: Settings) -> None:
    if settings.unsafe_no_sandbox:
        print("codegen-hook: WARNING: --unsafe-no-sandbox: generated code runs with your "
              "user's full rights, network and files", file=sys.stderr)


def ask(prompt: str, confirm: bool = False) -> str:
    import getpass

    if not sys.stdin.isatty():
        raise ConfigError(f"{prompt.rstrip(': ')} is needed but there is no terminal to ask "
                          "on; set CODEGEN_HOOK_PASSPHRASE")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("again: ") != first:
        raise ConfigError("the two passphrases differ; nothing was changed, try again")
    return first


def show_event(event: Event) -> None:
    name = f"{event.file}::{event.qualname}"
    if event.kind == "index":
        print(f"codegen-hook: {event.message}", file=sys.stderr)
    elif event.kind == "start":
        print(f"codegen-hook: filling {name} ({event.message})", file=sys.stderr)
    elif event.kind == "round":
        print(f"codegen-hook:   {event.message}", file=sys.stderr)
    else:
        print(f"codegen-hook:   {name}: {event.message}", file=sys.stderr)


def sandbox_factory(settings: Settings) -> Callable[[], Sandbox]:
    """The sandbox, chosen on first need; why it passed over docker goes to stderr."""
    def make() -> Sandbox:
        from codegen_hook.isolation import select_sandbox

        notices: list[str] = []
        chosen = select_sandbox(settings, notices)
        for notice in notices:
            print(f"codegen-hook: {notice}", file=sys.stderr)
        return chosen
    return make
