"""The embedded backend: a GGUF model run in-process by llama-cpp-python."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from codegen_hook.backends.base import Backend, Completion, CompletionRequest
from codegen_hook.errors import BackendError, ModelError

__all__ = ["LlamaCppBackend"]


class LlamaCppBackend(Backend):
    """Loads the model lazily on the first request, then keeps it."""

    name: ClassVar[str] = "llama-cpp"

    def __init__(self, model_path: Path, n_ctx: int = 4096, n_threads: int = 0,
                 decrypt: Callable[[Path], int] | None = None, model_sha256: str = "") -> None:
        """`decrypt`, for a sealed model: returns an fd holding the plaintext in memory."""
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.decrypt = decrypt
        self.model_sha256 = model_sha256
        self._llama: Any = None
        self._fd: int | None = None
        self.load_seconds = 0.0

    def describe(self) -> str:
        name = self.model_path.name.removesuffix(".sealed")
        return f"llama-cpp:{name}" + (" (encrypted)" if self.decrypt else "")

    def _load(self) -> Any:
        if self._llama is not None:
            return self._llama
        try:
            import llama_cpp  # heavy: imported only when a model is used
        except ImportError as exc:
            raise BackendError(f"llama-cpp-python cannot be imported ({exc}); install it "
                               "(pip install llama-cpp-python) or use backend: openai; if a "
                               "file in the current folder shadows a standard module, run "
                               "the codegen-hook command rather than python -m") from exc
        start = time.perf_counter()
        path = str(self.model_path)
        if self.decrypt is not None and self._fd is None:
            self._fd = self.decrypt(self.model_path)  # plaintext only in memory
        if self._fd is not None:
            path = f"/proc/self/fd/{self._fd}"
        try:
            self._llama = llama_cpp.Llama(model_path=path, n_ctx=self.n_ctx,
                                          n_threads=self.n_threads, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.model_path}: llama.cpp could not load it ({exc}); "
                             "check it is a GGUF file, or pass another --model") from exc
        self.load_seconds = time.perf_counter() - start
        return self._llama

    def complete(self, request: CompletionRequest) -> Completion:
        llama = self._load()
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        texts: list[str] = []
        prompt_tokens = completion_tokens = 0
        start = time.perf_counter()
        for index in range(request.n):
            seed = None if request.seed is None else request.seed + index
            try:
                result = llama.create_chat_completion(
                    messages=messages, temperature=request.temperature,
                    max_tokens=request.max_tokens, stop=list(request.stop) or None,
                    seed=seed)
            except ValueError as exc:  # llama.cpp's "prompt too long" and kin
                raise BackendError(f"llama.cpp refused the request ({exc}); raise n_ctx "
                                   "or shorten the stub's module") from exc
            texts.append(result["choices"][0]["message"]["content"] or "")
            prompt_tokens += result["usage"]["prompt_tokens"]
            completion_tokens += result["usage"]["completion_tokens"]
        return Completion(texts=texts, model=self.describe(), prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens,
                          seconds=time.perf_counter() - start,
                          extra={"load_seconds": self.load_seconds})
