"""The embedded backend: a GGUF model run in-process by llama-cpp-python.

All texts of a request are decoded together (llama_batch.generate): the prompt is evaluated
once and the k sequences share its KV cells, so k candidates cost far less than k requests.

A LoRA adapter (`lora_path`, GGUF; sealed ones are decrypted into a memfd, as private
models are) is loaded with the model and applied, at `lora_scale`, to every context.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from codegen_hook.backends.base import Backend, Completion, CompletionRequest
from codegen_hook.errors import BackendError, ModelError

if TYPE_CHECKING:
    from codegen_hook.backends.llama_batch import BatchContext
    from codegen_hook.config import Settings

__all__ = ["ADAPTER_ROLE", "LlamaCppBackend", "extra_buffers_work", "lora_options",
           "model_params"]

ADAPTER_ROLE = "lora-adapter"  # the role a sealed LoRA adapter is sealed for

_CELL_STEP = 1024   # the batch context grows in these steps, so it is rarely made again


def extra_buffers_work(llama_cpp: Any) -> bool:
    """Whether llama.cpp may put weights in its extra CPU buffer types (repacked layouts).

    Not when it was built with AMX: in the llama.cpp that llama-cpp-python bundles, the
    AMX kernels run tile instructions on worker threads that never asked the kernel for
    tile state (llama.cpp PR 26954), so on a CPU that has AMX -- Sapphire Rapids and later,
    where `pip install` compiles with -march=native -- the first decode dies with SIGILL,
    taking the caller's process with it. Without the extra buffers the AMX kernels are
    never called; the plain CPU kernels (AVX-512 VNNI there) do the work.
    """
    info = llama_cpp.llama_print_system_info()
    text = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    return "AMX_INT8 = 1" not in text


@contextlib.contextmanager
def model_params(*, extra_buffers: bool) -> Iterator[None]:
    """Build `llama_cpp.Llama`s with `use_extra_bufts` set to `extra_buffers` (llama-cpp-python's
    own server too, run inside this block: tests/backends/test_openai_real_server.py).

    `Llama` takes its model parameters from `llama_model_default_params()` and has no
    argument for this field, so the default is swapped while the block runs.
    """
    import llama_cpp.llama_cpp as low_level

    default = low_level.llama_model_default_params

    def params() -> Any:
        value = default()
        value.use_extra_bufts = extra_buffers
        return value

    low_level.llama_model_default_params = params
    try:
        yield
    finally:
        low_level.llama_model_default_params = default


class LlamaCppBackend(Backend):
    """Loads the model lazily on the first request, then keeps it."""

    name: ClassVar[str] = "llama-cpp"
    supports_n: ClassVar[bool] = True
    min_sequences: ClassVar[int] = 8  # a context made for fewer is made again when k grows

    def __init__(self, model_path: Path, n_ctx: int = 4096, n_threads: int = 0,
                 decrypt: Callable[[Path], int] | None = None, model_sha256: str = "",
                 lora_path: Path | None = None, lora_scale: float = 1.0,
                 lora_decrypt: Callable[[Path], int] | None = None) -> None:
        """`decrypt`, for a sealed model: returns an fd holding the plaintext in memory;
        `lora_decrypt` the same for a sealed LoRA adapter at `lora_path`."""
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.decrypt = decrypt
        self.model_sha256 = model_sha256
        self._llama: Any = None
        self._fd: int | None = None
        self._context: BatchContext | None = None
        self.lora_path = lora_path
        self.lora_scale = lora_scale
        self.lora_decrypt = lora_decrypt
        self._adapter: Any = None
        self.load_seconds = 0.0

    def describe(self) -> str:
        name = self.model_path.name.removesuffix(".sealed")
        if self.lora_path is not None:
            lora = self.lora_path.name.removesuffix(".sealed").removesuffix(".gguf")
            name += f"+lora:{lora}" + (f"@{self.lora_scale:g}" if self.lora_scale != 1 else "")
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
            with model_params(extra_buffers=extra_buffers_work(llama_cpp)):
                llama = llama_cpp.Llama(model_path=path, n_ctx=self.n_ctx,
                                        n_threads=self.n_threads, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.model_path}: llama.cpp could not load it ({exc}); "
                             "check it is a GGUF file, or pass another --model") from exc
        if self.lora_path is not None:  # kept only with its adapter: no silent fallback
            self._adapter = self._load_adapter(llama)
        self._llama = llama
        self.load_seconds = time.perf_counter() - start
        return self._llama

    def _load_adapter(self, llama: Any) -> Any:
        """The LoRA adapter, applied to the Llama's own context; a sealed one is read
        from a memfd that is closed once llama.cpp has copied the weights."""
        from codegen_hook.backends.llama_batch import load_adapter, set_adapter

        assert self.lora_path is not None
        path = self.lora_path
        try:
            with open(path, "rb") as handle:
                magic = handle.read(4)
        except OSError as exc:
            raise ModelError(f"lora_path {path}: cannot read it ({exc.strerror}); point "
                             "lora_path at an adapter `codegen-hook finetune` wrote, or clear "
                             "it") from exc
        if self.lora_decrypt is None and magic != b"GGUF":
            raise ModelError(f"lora_path {path}: neither a GGUF file nor an adapter sealed "
                             "by codegen-hook; point lora_path at a GGUF LoRA adapter, or "
                             "clear it")
        fd = self.lora_decrypt(path) if self.lora_decrypt is not None else None
        try:
            adapter = load_adapter(llama, f"/proc/self/fd/{fd}" if fd is not None
                                   else str(path), f"lora_path {path}")
        finally:
            if fd is not None:
                os.close(fd)
        set_adapter(llama.ctx, adapter, self.lora_scale)
        return adapter

    def _batch_context(self, k: int, cells: int) -> BatchContext:
        """The multi-sequence context, made on first use and again for a larger k or
        more KV cells. `n_ctx` is each sequence's window; the shared buffer holds the
        prompt once plus every sequence's continuation."""
        from codegen_hook.backends.llama_batch import BatchContext

        cells = max(self.n_ctx, -(-cells // _CELL_STEP) * _CELL_STEP)
        if self._context is None or self._context.n_seq < k or self._context.n_ctx < cells:
            if self._context is not None:
                self._context.close()
                self._context = None
            llama = self._load()
            adapter = (self._adapter, self.lora_scale) if self._adapter is not None else None
            self._context = BatchContext(llama, cells, max(k, self.min_sequences), adapter)
        return self._context

    def complete(self, request: CompletionRequest) -> Completion:
        return self.complete_many([request])[0]

    def complete_many(self, requests: Sequence[CompletionRequest]) -> list[Completion]:
        """Every text of every request decoded as one batch (llama_batch.generate_many)."""
        llama = self._load()  # first: a missing llama_cpp is a BackendError with advice
        from codegen_hook.backends.llama_batch import Job, chat_prompt, context_for, \
            generate_many

        start = time.perf_counter()
        jobs: list[Job] = []
        for request in requests:
            messages = [{"role": m.role, "content": m.content} for m in request.messages]
            try:
                prompt, stop = chat_prompt(llama, messages, request.stop)
            except ValueError as exc:  # the chat template refused the messages
                raise BackendError(f"llama.cpp's chat template refused the request ({exc}); "
                                   "check the model's chat template, or pass another "
                                   "--model") from exc
            if request.prefix:   # the answer's start, as the model would have written it
                prompt = prompt + list(llama.tokenize(request.prefix.encode("utf-8"),
                                                      add_bos=False, special=False))
            if len(prompt) + request.max_tokens > self.n_ctx:
                raise BackendError(f"the prompt has {len(prompt)} tokens and up to "
                                   f"{request.max_tokens} more are wanted, beyond n_ctx "
                                   f"{self.n_ctx}; raise n_ctx (CODEGEN_HOOK_N_CTX) or lower "
                                   "context_tokens / max_tokens")
            jobs.append(Job(prompt, request.plan(), request.max_tokens, stop))
        wanted = [job for job in jobs if job.plan]
        results = iter(generate_many(
            self._batch_context(sum(len(j.plan) for j in wanted), context_for(wanted)),
            wanted) if wanted else [])
        out = []
        for request, job in zip(requests, jobs):
            extra = {"load_seconds": self.load_seconds, "batch": float(len(job.plan))}
            if not job.plan:
                out.append(Completion(texts=[], model=self.describe(), extra=extra))
                continue
            result = next(results)
            extra.update(prefill_s=result.prefill_s, decode_s=result.decode_s,
                         decode_steps=float(result.steps),
                         prompts_in_batch=float(len(wanted)))
            out.append(Completion(texts=[request.prefix + t for t in result.texts],
                                  model=self.describe(),
                                  prompt_tokens=len(job.prompt),
                                  completion_tokens=sum(result.completion_tokens),
                                  seconds=time.perf_counter() - start, extra=extra))
        return out


def lora_options(settings: Settings, data_dir: Path) -> dict[str, Any]:
    """LlamaCppBackend's LoRA arguments from `lora_path` / `lora_scale`: none when the
    path is empty; a sealed adapter opens with the data dir's key."""
    from codegen_hook.security.crypto import is_sealed

    if not settings.lora_path:
        return {}
    path = Path(settings.lora_path).expanduser()
    try:
        with open(path, "rb") as handle:
            sealed = is_sealed(handle.read(4))
    except OSError as exc:
        raise ModelError(f"lora_path {path}: cannot read it ({exc.strerror}); point "
                         "lora_path at an adapter `codegen-hook finetune` wrote, or clear "
                         "it") from exc
    options: dict[str, Any] = {"lora_path": path, "lora_scale": settings.lora_scale}
    if sealed:
        from codegen_hook.security.codec import codec_for
        from codegen_hook.security.memfd import decrypt_to_memfd

        codec = codec_for(settings, data_dir, create=False)
        options["lora_decrypt"] = lambda sealed_path: decrypt_to_memfd(sealed_path, codec,
                                                                       ADAPTER_ROLE)
    return options
