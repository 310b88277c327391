"""k continuations of one chat prompt, decoded together in one llama.cpp context.

`generate` evaluates the prompt once, as sequence 0 of a context whose KV cache is unified
(one buffer for all sequences), shares the prompt's cells with sequences 1..k-1
(`llama_memory_seq_cp`: metadata only, nothing is copied), then decodes all live sequences
together: each step is one `llama_batch` holding the last token of every live sequence, with
logits on for each, and each sequence samples its own row with its own sampler chain. A step
of k tokens goes through the weights once for all k; what that saves over k single steps
depends on llama.cpp's CPU kernel for the weights' quantization (benchmarks/batch.py).

The sampler chain of a sequence, as Llama.create_chat_completion builds it with the defaults
that call uses (top_k=40, typical_p=1.0, top_p=0.95, min_p=0.05, repeat_penalty=1.0):

    temperature <= 0:  greedy
    temperature > 0:   top_k(40) -> top_p(0.95) -> min_p(0.05) -> temp(t) -> dist(seed)

Its stages that do nothing at those defaults (penalties at 1.0, typical at 1.0) are left out.
A seed of None draws a random one (LLAMA_DEFAULT_SEED). A sequence ends at an
end-of-generation token (not counted, as create_completion does not count it), at the first
stop string (the text is cut before it; the token holding it is counted), or at `max_tokens`.

A LoRA adapter (`load_adapter`) belongs to the model; `set_adapter` applies it to a
context, with its scale: the Llama's own context and every BatchContext get it.

Every ctypes call of the backend lives in this module.
"""

from __future__ import annotations

import ctypes
import importlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import llama_cpp

from codegen_hook.errors import BackendError, ModelError

__all__ = ["BatchContext", "BatchResult", "Job", "chat_prompt", "context_for", "context_needed",
           "generate", "generate_many", "load_adapter", "set_adapter"]

TOP_K = 40
TOP_P = 0.95
MIN_P = 0.05
_SEED_MASK = 0xFFFFFFFF  # llama.cpp seeds are uint32, as ctypes would truncate them
_PAD = 256               # n_ctx advice is rounded up to this
_LOG_KEPT = (3, 4)       # ggml.h's ggml_log_level: DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5


class _Captured(Exception):
    """Leaves the chat handler once it has handed create_completion its prompt."""


class _PromptCapture:
    """Stands in for `Llama` as `self` of Llama.create_chat_completion: that call picks the
    chat handler (the GGUF's chat template, or a named chat format), renders and tokenizes
    the messages and adds the template's stop strings, then calls create_completion, which
    here keeps the tokens and the stop strings and stops. Anything else is the real Llama."""

    def __init__(self, llama: Any) -> None:
        self._llama = llama
        self.tokens: list[int] = []
        self.stop: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llama, name)

    def create_completion(self, prompt: list[int], stop: Any = None, **_: Any) -> Any:
        self.tokens = list(prompt)
        self.stop = [stop] if isinstance(stop, str) else list(stop or [])
        raise _Captured


def chat_prompt(llama: Any, messages: list[dict[str, str]],
                stop: Sequence[str] = ()) -> tuple[list[int], list[str]]:
    """The prompt tokens and stop strings create_chat_completion would use for `messages`.

    Raises ValueError (a template that refuses the messages) as create_chat_completion does."""
    capture = _PromptCapture(llama)
    try:
        type(llama).create_chat_completion(capture, messages=messages, stop=list(stop))
    except _Captured:
        return capture.tokens, capture.stop
    raise ValueError("the chat handler returned without calling create_completion")


@contextmanager
def _llama_log() -> Iterator[list[str]]:
    """llama.cpp's warnings and errors while inside, kept instead of printed; then its
    log goes back to llama-cpp-python's own callback."""
    kept: list[str] = []

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def keep(level: int, text: bytes, user_data: Any) -> None:
        if level in _LOG_KEPT:
            kept.append(text.decode("utf-8", errors="replace").strip())

    llama_cpp.llama_log_set(keep, ctypes.c_void_p(0))
    try:
        yield kept
    finally:
        own = getattr(importlib.import_module("llama_cpp._logger"), "llama_log_callback", None)
        llama_cpp.llama_log_set(own, ctypes.c_void_p(0))


def load_adapter(llama: Any, path: str, label: str) -> Any:
    """A LoRA adapter (GGUF) for the Llama's model; ModelError, with llama.cpp's reason,
    when llama.cpp refuses it (another base model, not an adapter). `label` names the
    file in messages (`path` may be a memfd's /proc path)."""
    with _llama_log() as log:
        adapter = llama_cpp.llama_adapter_lora_init(llama.model, path.encode())
    if not adapter:
        reason = "; ".join(line for line in log if line) or "no reason given"
        raise ModelError(f"{label}: llama.cpp refused the LoRA adapter ({reason}); use an "
                         "adapter trained on this model (codegen-hook finetune), or clear "
                         "lora_path")
    return adapter


def set_adapter(ctx: Any, adapter: Any, scale: float) -> None:
    """Apply `adapter` to a context at `scale` (the only adapter on it)."""
    if hasattr(llama_cpp, "llama_set_adapters_lora"):
        code = llama_cpp.llama_set_adapters_lora(
            ctx, (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter), 1,
            (ctypes.c_float * 1)(scale))
    else:  # older llama-cpp-python: one adapter per call
        code = llama_cpp.llama_set_adapter_lora(ctx, adapter, scale)
    if code != 0:
        raise BackendError(f"llama.cpp could not apply the LoRA adapter (code {code}); "
                           "clear lora_path, or report it with the llama-cpp-python version")


def context_needed(prompt_tokens: int, k: int, max_tokens: int) -> int:
    """KV cells for a prompt and k continuations of up to max_tokens each."""
    return prompt_tokens + k * max_tokens


@dataclass
class BatchResult:
    texts: list[str]
    completion_tokens: list[int]  # per text
    prefill_s: float
    decode_s: float
    steps: int                    # llama_decode calls after the prompt


class BatchContext:
    """A llama.cpp context beside the Llama's own, with the Llama's settings (threads, batch
    sizes, attention) but `n_ctx` cells in one unified KV buffer shared by up to `n_seq`
    sequences. It keeps the Llama alive, so the model outlives the context. `adapter`:
    a LoRA (load_adapter) and its scale, applied to this context."""

    def __init__(self, llama: Any, n_ctx: int, n_seq: int,
                 adapter: tuple[Any, float] | None = None) -> None:
        self.ctx: Any = None
        limit = int(llama_cpp.llama_max_parallel_sequences())
        if n_seq > limit:
            raise BackendError(f"llama.cpp decodes at most {limit} sequences together; "
                               f"lower candidates (asked for {n_seq})")
        params = llama_cpp.llama_context_params.from_buffer_copy(llama.context_params)
        params.n_ctx = n_ctx
        params.n_seq_max = n_seq
        params.kv_unified = True  # the prompt's cells are shared, not copied per sequence
        self.llama = llama
        self.n_ctx = n_ctx
        self.n_seq = n_seq
        self.n_batch = int(params.n_batch)
        self.ctx = llama_cpp.llama_init_from_model(llama.model, params)
        if not self.ctx:
            raise BackendError(f"llama.cpp could not make a context of {n_ctx} tokens for "
                               f"{n_seq} sequences (out of memory?); lower n_ctx or candidates")
        self.batch = llama_cpp.llama_batch_init(max(self.n_batch, n_seq), 0, 1)
        if adapter is not None:
            set_adapter(self.ctx, *adapter)
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.vocab = llama_cpp.llama_model_get_vocab(llama.model)

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_batch_free(self.batch)
            llama_cpp.llama_free(self.ctx)
            self.ctx = None

    def __del__(self) -> None:
        self.close()

    def put(self, index: int, token: int, pos: int, seq: int, logits: bool) -> None:
        batch = self.batch
        batch.token[index] = token
        batch.pos[index] = pos
        batch.n_seq_id[index] = 1
        batch.seq_id[index][0] = seq
        batch.logits[index] = logits

    def decode(self, n_tokens: int) -> None:
        self.batch.n_tokens = n_tokens
        code = llama_cpp.llama_decode(self.ctx, self.batch)
        if code == 1:
            raise BackendError(f"llama.cpp found no room in its {self.n_ctx}-token context; "
                               "raise n_ctx or lower candidates or max_tokens")
        if code != 0:
            raise BackendError(f"llama_decode failed with code {code}; retry, or report it "
                               "with the model and llama-cpp-python version")

    def sample(self, sampler: Any, index: int) -> int:
        return int(llama_cpp.llama_sampler_sample(sampler, self.ctx, index))

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))


def _sampler(temperature: float, seed: int | None) -> Any:
    """The chain described in the module docstring; the chain owns its stages."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    if temperature <= 0:
        stages = [llama_cpp.llama_sampler_init_greedy()]
    else:
        draw = llama_cpp.LLAMA_DEFAULT_SEED if seed is None else seed & _SEED_MASK
        stages = [llama_cpp.llama_sampler_init_top_k(TOP_K),
                  llama_cpp.llama_sampler_init_top_p(TOP_P, 1),
                  llama_cpp.llama_sampler_init_min_p(MIN_P, 1),
                  llama_cpp.llama_sampler_init_temp(temperature),
                  llama_cpp.llama_sampler_init_dist(draw)]
    for stage in stages:
        llama_cpp.llama_sampler_chain_add(chain, stage)
    return chain


@dataclass
class _Text:
    """One sequence's output: its tokens, their bytes, and where a stop string cut it."""

    max_tokens: int
    stops: list[bytes]
    tokens: list[int] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    cut: int | None = None

    def add(self, token: int, piece: bytes) -> bool:
        """Append a token; False once the sequence is done."""
        self.tokens.append(token)
        before = len(self.data)
        self.data += piece
        found = [at for stop in self.stops
                 if (at := self.data.find(stop, max(0, before - len(stop) + 1))) >= 0]
        if found:
            self.cut = min(found)
            return False
        return len(self.tokens) < self.max_tokens

    def text(self) -> str:
        return bytes(self.data[:self.cut]).decode("utf-8", errors="ignore")


@dataclass(frozen=True)
class Job:
    """One prompt and the (temperature, seed) of each text wanted from it."""

    prompt: Sequence[int]
    plan: Sequence[tuple[float, int | None]]
    max_tokens: int
    stop: Sequence[str] = ()


def context_for(jobs: Sequence[Job]) -> int:
    """KV cells for every job's prompt once plus each of its continuations."""
    return sum(context_needed(len(j.prompt), len(j.plan), j.max_tokens) for j in jobs)


def generate(context: BatchContext, prompt: Sequence[int],
             plan: Sequence[tuple[float, int | None]], max_tokens: int,
             stop: Sequence[str] = (), ignore_eos: bool = False) -> BatchResult:
    """One text per (temperature, seed) of `plan`, continuing `prompt`, decoded together.

    `ignore_eos` (benchmarks) decodes past end-of-generation tokens up to max_tokens."""
    return generate_many(context, [Job(prompt, plan, max_tokens, stop)], ignore_eos)[0]


def generate_many(context: BatchContext, jobs: Sequence[Job],
                  ignore_eos: bool = False) -> list[BatchResult]:
    """Several prompts (a stub's code request and its tests request) decoded as one batch:
    each prompt is evaluated once into its first sequence and shared with the job's other
    sequences; every step then carries the last token of every live sequence of every job.
    The step time grows little with the batch here (benchmarks/batch.py), so a second
    prompt's texts come nearly free. Results in job order; each job's prefill time is its
    own, the decode time is shared."""
    k = sum(len(job.plan) for job in jobs)
    needed = context_for(jobs)
    if needed > context.n_ctx:
        advice = -(-needed // _PAD) * _PAD
        raise BackendError(
            f"{k} text(s) after {len(jobs)} prompt(s) need {needed} tokens of context, but "
            f"n_ctx is {context.n_ctx}; raise n_ctx to {advice} or more (n_ctx in "
            "[tool.codegen-hook], CODEGEN_HOOK_N_CTX), or lower candidates or max_tokens")
    if any(not job.prompt or not job.plan or job.max_tokens < 1 for job in jobs) \
            or not jobs or k > context.n_seq:
        raise ValueError(f"generate: {len(jobs)} jobs, {k} texts, a context for "
                         f"{context.n_seq} sequences")
    llama = context.llama
    pieces: dict[int, bytes] = {}
    owner: list[int] = []            # sequence -> its job
    texts: list[_Text] = []
    samplers: list[Any] = []
    for number, job in enumerate(jobs):
        stops = [s.encode("utf-8") for s in job.stop if s]
        for temperature, seed in job.plan:
            owner.append(number)
            texts.append(_Text(job.max_tokens, stops))
            samplers.append(_sampler(temperature, seed))
    position = [len(jobs[j].prompt) for j in owner]
    prefill = [0.0] * len(jobs)
    llama_cpp.llama_memory_clear(context.memory, True)
    try:
        def take(seq: int, index: int) -> bool:
            """Sample sequence `seq` from logits row `index`; True while it goes on."""
            token = context.sample(samplers[seq], index)
            if context.is_eog(token) and not ignore_eos:
                return False
            if token not in pieces:
                pieces[token] = llama.detokenize([token])
            return texts[seq].add(token, pieces[token])

        live: list[int] = []
        first_seq = 0
        for number, job in enumerate(jobs):
            start = time.perf_counter()
            prompt = job.prompt
            for first in range(0, len(prompt), context.n_batch):  # the prompt, once
                chunk = prompt[first:first + context.n_batch]
                for i, token in enumerate(chunk):
                    context.put(i, token, first + i, first_seq, i == len(chunk) - 1)
                context.decode(len(chunk))
            seqs = range(first_seq, first_seq + len(job.plan))
            for seq in seqs[1:]:  # the job's other sequences see the same cells
                llama_cpp.llama_memory_seq_cp(context.memory, first_seq, seq, -1, -1)
            # each sequence's first token comes from the prompt's logits, before the next
            # prompt's evaluation overwrites them
            live += [seq for seq in seqs if take(seq, len(chunk) - 1)]
            prefill[number] = time.perf_counter() - start
            first_seq += len(job.plan)
        decoding = time.perf_counter()
        steps = 0
        while live:
            for index, seq in enumerate(live):
                context.put(index, texts[seq].tokens[-1], position[seq], seq, True)
            context.decode(len(live))
            for seq in live:
                position[seq] += 1
            live = [seq for index, seq in enumerate(live) if take(seq, index)]
            steps += 1
        decode_s = time.perf_counter() - decoding
    finally:
        for sampler in samplers:
            llama_cpp.llama_sampler_free(sampler)
    return [BatchResult(texts=[t.text() for t, j in zip(texts, owner) if j == number],
                        completion_tokens=[len(t.tokens) for t, j in zip(texts, owner)
                                           if j == number],
                        prefill_s=prefill[number], decode_s=decode_s, steps=steps)
            for number in range(len(jobs))]
