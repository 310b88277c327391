"""Model backends and the one function that picks one from settings."""

from __future__ import annotations

import os
from pathlib import Path

from codegen_hook.backends.base import Backend, Completion, CompletionRequest, Message
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError
from codegen_hook.models import Progress, resolve_model_path

__all__ = ["Backend", "Completion", "CompletionRequest", "Message", "make_backend"]


def make_backend(settings: Settings, data_dir: Path,
                 progress: Progress | None = None) -> Backend:
    """Build the configured backend; an unknown name fails loudly."""
    if settings.backend == "llama-cpp":
        from codegen_hook.backends.llama import LlamaCppBackend
        path = resolve_model_path(settings.model, data_dir, progress)
        return LlamaCppBackend(path, n_ctx=settings.n_ctx, n_threads=settings.n_threads)
    if settings.backend == "openai":
        from codegen_hook.backends.openai_http import OpenAICompatBackend
        return OpenAICompatBackend(
            settings.openai_base_url, settings.openai_model,
            api_key=os.environ.get(settings.openai_api_key_env, ""),
            allowed_hosts=settings.allow_remote_hosts, n_ctx=settings.n_ctx)
    raise ConfigError(f"unknown backend {settings.backend!r}; use llama-cpp or openai")
