"""What works here: model, backend and sandbox layers, each with the reason."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from codegen_hook.config import Settings
from codegen_hook.errors import CodegenHookError
from codegen_hook.models import KNOWN_MODELS, model_status

__all__ = ["diagnose"]


def _row(layer: str, status: str, detail: str) -> dict[str, str]:
    return {"layer": layer, "status": status, "detail": detail}


def _model_rows(settings: Settings, home: Path) -> list[dict[str, str]]:
    rows = []
    for name in KNOWN_MODELS:
        status = model_status(name, home)
        state = "missing" if status.startswith("missing") else "ready"
        chosen = " (configured)" if settings.model == name else ""
        rows.append(_row(f"model {name}{chosen}", state, status))
    if settings.model not in KNOWN_MODELS:
        exists = Path(settings.model).expanduser().is_file()
        rows.append(_row(f"model {settings.model}", "ready" if exists else "missing",
                         "GGUF file" if exists else "no such file; fix --model"))
    return rows


def _backend_rows(settings: Settings) -> list[dict[str, str]]:
    have_llama = importlib.util.find_spec("llama_cpp") is not None
    rows = [_row("backend llama-cpp", "ready" if have_llama else "missing",
                 "llama-cpp-python installed" if have_llama
                 else "pip install llama-cpp-python")]
    try:
        from codegen_hook.backends.openai_http import check_endpoint_allowed
        check_endpoint_allowed(settings.openai_base_url, settings.allow_remote_hosts)
        rows.append(_row("backend openai", "allowed",
                         f"{settings.openai_base_url} (not contacted by doctor)"))
    except CodegenHookError as exc:
        rows.append(_row("backend openai", "refused", str(exc)))
    return rows


def _sandbox_rows(settings: Settings) -> list[dict[str, str]]:
    from codegen_hook.isolation import cgroups, probe_sandbox
    from codegen_hook.isolation.bwrap import BwrapSandbox
    rows = []
    try:
        sandbox = BwrapSandbox(python=settings.sandbox_python, uid=settings.sandbox_uid)
        result = probe_sandbox(sandbox)
        user = f"uid {sandbox.uid}" if sandbox.uid is not None else "your uid"
        if result.ok:
            rows.append(_row("sandbox bwrap", "active", f"{sandbox.python} as {user}, "
                             f"start {result.seconds * 1000:.0f} ms"))
            ok, why = cgroups.available()
            rows.append(_row("sandbox cgroups", "active" if ok else "missing", why))
            rows.append(_row("sandbox seccomp", "active" if sandbox.seccomp else "missing",
                             "deny-list loaded into bwrap" if sandbox.seccomp else
                             "libseccomp not found (apt-get install libseccomp2); bwrap "
                             "runs without the syscall filter"))
        else:
            rows.append(_row("sandbox bwrap", "broken", result.stderr.strip()[-200:]))
    except CodegenHookError as exc:
        rows.append(_row("sandbox bwrap", "missing", str(exc)))
    try:
        from codegen_hook.isolation.docker import DockerSandbox
        docker = DockerSandbox(image=settings.docker_image)
        result = probe_sandbox(docker)
        rows.append(_row("sandbox docker", "active" if result.ok else "broken",
                         f"image {docker.image}, start {result.seconds * 1000:.0f} ms"
                         if result.ok else result.stderr.strip()[-200:]))
    except CodegenHookError as exc:
        rows.append(_row("sandbox docker", "missing", str(exc)))
    rows.append(_row("sandbox choice", settings.sandbox, "auto takes docker when it is "
                     "active, else bwrap" if settings.sandbox == "auto" else "as configured"))
    if settings.unsafe_no_sandbox:
        rows.append(_row("sandbox none", "UNSAFE", "--unsafe-no-sandbox is set"))
    return rows


def _key_rows(settings: Settings, home: Path) -> list[dict[str, str]]:
    """Where the key comes from and whether it opens the ring; never unwraps a key."""
    from codegen_hook.security.keys import key_status

    key_file = Path(settings.key_file).expanduser() if settings.key_file else None
    try:
        status = key_status(home, key_file=key_file)
    except CodegenHookError as exc:
        return [_row("encryption key", "broken", str(exc))]
    if not status.ring_exists:
        return [_row("encryption key", "not yet", "made on first use (or `codegen-hook key "
                     f"init`); source: {status.source}")]
    state = {True: "ready", False: "WRONG KEY", None: "unknown"}[status.matches]
    where = status.key_file if status.source == "key-file" else status.source
    return [_row("encryption key", state, f"AES-256-GCM data key {status.active}, wrapped for "
                 f"{where} (kek {status.kek_id or 'from a passphrase'}); ring {status.ring_path}")]


def diagnose(settings: Settings, home: Path) -> list[dict[str, str]]:
    """Rows of (layer, status, detail); probes the sandbox, never loads a model."""
    return (_model_rows(settings, home) + _backend_rows(settings) + _key_rows(settings, home)
            + _sandbox_rows(settings))
