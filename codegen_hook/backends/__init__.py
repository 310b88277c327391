"""Model backends, and the one function that builds the configured one (by name,
through registry.BACKENDS)."""

from __future__ import annotations

import os
from pathlib import Path

from codegen_hook.backends.base import Backend, Completion, CompletionRequest, Message
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError
from codegen_hook.registry import BACKENDS
from codegen_hook.models import (KNOWN_MODELS, MODEL_ROLE, Progress, find_private_model,
                                 resolve_model_path)

__all__ = ["Backend", "Completion", "CompletionRequest", "Message", "langchain_backend",
           "llama_cpp_backend", "make_backend", "openai_backend"]


def make_backend(settings: Settings, data_dir: Path,
                 progress: Progress | None = None) -> Backend:
    """Build the configured backend; an unknown name fails loudly."""
    backend: Backend = BACKENDS.load(settings.backend)(settings, data_dir, progress)
    return backend


def openai_backend(settings: Settings, data_dir: Path, progress: Progress | None) -> Backend:
    from codegen_hook.backends.openai_http import OpenAICompatBackend
    return OpenAICompatBackend(
        settings.openai_base_url, settings.openai_model,
        api_key=os.environ.get(settings.openai_api_key_env, ""),
        allowed_hosts=settings.allow_remote_hosts, n_ctx=settings.n_ctx,
        ca_bundle=settings.ca_bundle, client_cert=settings.client_cert,
        client_key=settings.client_key, flavor=settings.openai_flavor,
        parallel=settings.openai_parallel)


def langchain_backend(settings: Settings, data_dir: Path, progress: Progress | None) -> Backend:
    if not settings.langchain_model:
        raise ConfigError("backend langchain needs langchain_model: set it to "
                          "'package.module:factory', a function returning a LangChain chat "
                          "model (flag --langchain-model, or CODEGEN_HOOK_LANGCHAIN_MODEL)")
    from codegen_hook.backends.langchain import LangChainBackend, load_chat_model

    return LangChainBackend(load_chat_model(settings.langchain_model))


def llama_cpp_backend(settings: Settings, data_dir: Path, progress: Progress | None) -> Backend:
    from codegen_hook.backends.llama import LlamaCppBackend, lora_options

    lora = lora_options(settings, data_dir)  # lora_path / lora_scale; {} without one
    private = find_private_model(settings.model, data_dir)
    if private is not None and private.encrypted:
        from codegen_hook.security.codec import codec_for
        from codegen_hook.security.memfd import decrypt_to_memfd

        codec = codec_for(settings, data_dir)
        return LlamaCppBackend(private.path, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                               decrypt=lambda path: decrypt_to_memfd(path, codec, MODEL_ROLE),
                               model_sha256=private.sha256, **lora)
    path = resolve_model_path(settings.model, data_dir, progress)
    known = KNOWN_MODELS.get(settings.model)
    sha = known.sha256 if known else private.sha256 if private else ""
    return LlamaCppBackend(path, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                           model_sha256=sha, **lora)
