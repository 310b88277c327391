"""k candidates for one prompt: batched decode against one request per candidate.

    .venv/bin/python benchmarks/batch.py [--json] [--reps 3] [--k 5] [--max-tokens 512]
        [--fixed-tokens N] [--stub examples/text.py:snake_case] [--model PATH]
        [--no-prefix] [--threads N] [--steps 1,2,4,5,8,16]

The prompt is a real stub request (codegen_hook.pipeline.prompts.stub_messages). Rows:

  natural   texts end where the model ends them (EOS, the hook's stop string, or
            max_tokens), after the hook's answer prefix (the stub's own lines; --no-prefix:
            the model writes them too): what the hook pays. k=1 and k=5 batched go through
            LlamaCppBackend.complete with the pipeline's schedule (one greedy text, the rest
            sampled at 0.8); "one by one" is k requests of one text each, each evaluating
            the prompt again.
  fixed     every text decodes exactly N tokens (end-of-generation ignored), so k=1 and k=5
            do comparable work: this is the cost per decode step, free of length luck.

Each row is the median wall time of --reps runs; tok/s counts completion tokens of all texts.
Timings on a shared 2-core machine are noisy: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llama_cpp

from codegen_hook.backends.base import CompletionRequest, Message
from codegen_hook.backends.llama import LlamaCppBackend
from codegen_hook.backends.llama_batch import chat_prompt, context_needed, generate
from codegen_hook.config import Settings, data_dir
from codegen_hook.models import DEFAULT_MODEL, resolve_model_path
from codegen_hook.pipeline.generate import STOP
from codegen_hook.pipeline.prompts import answer_prefix, stub_messages
from codegen_hook.stubs import find_stubs

ROOT = Path(__file__).resolve().parents[1]


def stub_request(spec: str) -> tuple[list[Message], str]:
    """`file.py:name` -> the messages the hook would send for that stub, and its answer
    prefix."""
    file, _, name = spec.partition(":")
    path = ROOT / file
    text = path.read_text()
    stubs = [s for s in find_stubs(text, str(path)).stubs if s.name == name or not name]
    if not stubs:
        raise SystemExit(f"no stub {name!r} in {path}")
    return stub_messages(stubs[0], text, path), answer_prefix(stubs[0])


def timed(reps: int, run: Callable[[], tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Median wall seconds and completion tokens (of the median run) over `reps` runs."""
    runs = []
    for _ in range(reps):
        start = time.perf_counter()
        tokens, extra = run()
        runs.append((time.perf_counter() - start, tokens, extra))
    runs.sort(key=lambda r: r[0])
    wall, tokens, extra = runs[len(runs) // 2]
    return {"wall_s": wall, "tokens": tokens, "tokens_per_s": tokens / wall,
            "spread_s": runs[-1][0] - runs[0][0], **extra}


def step_costs(backend: LlamaCppBackend, prompt: list[int], sizes: list[int],
               as_json: bool, steps: int = 16) -> None:
    """Median milliseconds of one llama_decode of n tokens, one per sequence, after the
    prompt's cells are shared with every sequence (what a step of generate costs,
    sampling left out)."""
    cells = context_needed(len(prompt), max(sizes), steps + 1)
    context = backend._batch_context(max(sizes), cells)
    memory = context.memory
    rows: dict[int, float] = {}
    for n in sizes:
        llama_cpp.llama_memory_clear(memory, True)
        for i, token in enumerate(prompt):
            context.put(i, token, i, 0, i == len(prompt) - 1)
        context.decode(len(prompt))
        for seq in range(1, n):
            llama_cpp.llama_memory_seq_cp(memory, 0, seq, -1, -1)
        times = []
        for step in range(steps):
            for seq in range(n):
                context.put(seq, prompt[step % len(prompt)], len(prompt) + step, seq, True)
            start = time.perf_counter()
            context.decode(n)
            times.append(time.perf_counter() - start)
        rows[n] = 1000 * sorted(times)[len(times) // 2]
    if as_json:
        print(json.dumps({"prompt_tokens": len(prompt), "threads": backend.n_threads,
                          "step_ms": rows}, indent=2))
        return
    print(f"{backend.model_path.name}, {backend.n_threads} threads, {len(prompt)} prompt "
          f"tokens; median of {steps} steps")
    for n, ms in rows.items():
        print(f"  batch {n:3d}: {ms:6.1f} ms a step, {ms / n:5.1f} ms a sequence")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=Settings().max_tokens)
    parser.add_argument("--fixed-tokens", type=int, default=-1,
                        help="tokens per text in the fixed rows (default: --max-tokens; 0: skip)")
    parser.add_argument("--stub", default="examples/text.py:snake_case")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--no-prefix", action="store_true",
                        help="natural rows without the answer prefix")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: cores)")
    parser.add_argument("--steps", default="", metavar="SIZES",
                        help="only the cost of one decode step for each batch size, e.g. "
                        "1,2,4,5,8,16 (every sequence's logits on, as the hook asks)")
    args = parser.parse_args()
    settings = Settings()
    model = args.model or resolve_model_path(DEFAULT_MODEL, data_dir(settings))
    backend = LlamaCppBackend(model, n_ctx=settings.n_ctx,
                              n_threads=args.threads or settings.n_threads)
    llama = backend._load()
    messages, prefix = stub_request(args.stub)
    if args.no_prefix:
        prefix = ""
    chat = [{"role": m.role, "content": m.content} for m in messages]
    prompt, stop = chat_prompt(llama, chat)
    if args.steps:
        step_costs(backend, prompt, [int(n) for n in args.steps.split(",")], args.json)
        return
    k, max_tokens = args.k, args.max_tokens
    schedule = tuple((settings.temperature if i == 0 else settings.sample_temperature,
                      settings.seed + i) for i in range(k))
    texts: dict[str, list[str]] = {}

    def batched(plan: tuple[tuple[float, int | None], ...], key: str) -> Callable[[], Any]:
        def run() -> tuple[int, dict[str, float]]:
            done = backend.complete(CompletionRequest(tuple(messages), max_tokens=max_tokens,
                                                      schedule=plan, prefix=prefix,
                                                      stop=STOP))
            texts[key] = done.texts
            return done.completion_tokens, {"prefill_s": done.extra["prefill_s"],
                                            "decode_s": done.extra["decode_s"]}
        return run

    def one_by_one() -> tuple[int, dict[str, float]]:
        """The texts as k separate requests, each evaluating the prompt again."""
        tokens, out = 0, []
        for plan in schedule:
            done = backend.complete(CompletionRequest(tuple(messages), max_tokens=max_tokens,
                                                      schedule=(plan,), prefix=prefix,
                                                      stop=STOP))
            out += done.texts
            tokens += done.completion_tokens
        texts["one_by_one"] = out
        return tokens, {}

    def fixed(width: int, calls: int, n_tokens: int) -> Callable[[], Any]:
        def run() -> tuple[int, dict[str, float]]:
            tokens, prefill, decode = 0, 0.0, 0.0
            for call in range(calls):
                plan = schedule[call * width:(call + 1) * width]
                cells = context_needed(len(prompt), width, n_tokens)
                result = generate(backend._batch_context(width, cells), prompt, plan, n_tokens,
                                  ignore_eos=True)
                tokens += sum(result.completion_tokens)
                prefill += result.prefill_s
                decode += result.decode_s
            return tokens, {"prefill_s": prefill, "decode_s": decode}
        return run

    backend.complete(CompletionRequest(tuple(messages), max_tokens=8))  # warm up, make context
    rows: dict[str, dict[str, float]] = {
        "natural k=1 batched": timed(args.reps, batched(schedule[:1], "k1")),
        f"natural k={k} batched": timed(args.reps, batched(schedule, "batch")),
        f"natural k={k} one by one": timed(args.reps, one_by_one),
    }
    n_fixed = max_tokens if args.fixed_tokens < 0 else args.fixed_tokens
    if n_fixed:
        rows[f"fixed {n_fixed} k=1"] = timed(args.reps, fixed(1, 1, n_fixed))
        rows[f"fixed {n_fixed} k={k} batched"] = timed(args.reps, fixed(k, 1, n_fixed))
        rows[f"fixed {n_fixed} k={k} one by one"] = timed(args.reps, fixed(1, k, n_fixed))
    for name, row in rows.items():
        base = rows["natural k=1 batched" if name.startswith("natural") else
                    f"fixed {n_fixed} k=1"]
        row["x_k1_wall"] = row["wall_s"] / base["wall_s"]
    greedy = {"batched_vs_lone": texts["batch"][0] == texts["k1"][0],
              "distinct_texts_in_batch": float(len(set(texts["batch"])))}
    figures = {"model": model.name, "stub": args.stub, "prompt_tokens": len(prompt), "k": k,
               "prefix": bool(prefix),
               "max_tokens": max_tokens, "reps": args.reps, "n_threads": backend.n_threads,
               "rows": rows, "greedy": greedy, "stop": stop}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{model.name}, stub {args.stub} ({len(prompt)} prompt tokens, "
          f"{'with' if prefix else 'no'} answer prefix), k={k}, "
          f"max_tokens={max_tokens}, {backend.n_threads} threads, median of {args.reps}")
    print(f"{'':30} {'wall s':>8} {'tokens':>7} {'tok/s':>7} {'x k=1':>6} "
          f"{'prefill':>8} {'decode':>7} {'spread':>7}")
    for name, row in rows.items():
        print(f"{name:30} {row['wall_s']:8.2f} {row['tokens']:7.0f} {row['tokens_per_s']:7.1f} "
              f"{row['x_k1_wall']:6.2f} {row.get('prefill_s', float('nan')):8.2f} "
              f"{row.get('decode_s', float('nan')):7.2f} {row['spread_s']:7.2f}")
    print("greedy text: batched == lone k=1:", greedy["batched_vs_lone"])


if __name__ == "__main__":
    main()
