"""LoRA fine-tuning of the base model on the repository's own training pairs.

Each pair becomes one example in the form `fill` asks the model: prompts.stub_messages
for the stub (with no module context or retrieved code: a pair carries neither),
rendered with the tokenizer's chat template up to the assistant's turn, then the answer
the system prompt asks for, the function in one ```python block, closed by the
template's end of turn. Only the answer's tokens carry a loss: the prompt's labels are
-100, and the output layer runs only where a label is set (it is a fifth of the model's
work and most of a sequence is prompt). A sequence over `max_length` loses the end of
its answer; one whose prompt alone is too long is left out.

Batch 1 (gradient accumulation optional), AdamW with a short linear warm-up, gradients
clipped at 1.0, pairs drawn in a seeded shuffled order epoch after epoch: the same pairs,
seed and thread count give the same adapter.

torch, transformers and peft are imported when training starts (the `finetune` extra).
The base model is the GGUF that llama.cpp runs, loaded through transformers' GGUF
support (dequantized to float32), or a Hugging Face checkpoint folder; nothing comes
from a hub (HF_HUB_OFFLINE, local_files_only). On CPU unless torch sees a GPU.
"""

from __future__ import annotations

import importlib
import os
import random
import textwrap
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from codegen_hook.backends.base import Message
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError, FinetuneError
from codegen_hook.finetune.export import (StreamSealer, adapter_tensors, base_tensor_shapes,
                                          export_adapter)
from codegen_hook.pipeline.prompts import stub_messages
from codegen_hook.stubs import Stub

__all__ = ["DEFAULT_TARGETS", "Example", "FinetuneResult", "Pair", "Step", "TrainConfig",
           "TrainedLora", "adapter_path", "base_model_path", "encode_example", "finetune",
           "load_base", "train_lora", "training_answer", "training_messages"]

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
IGNORE = -100               # the label of a token that carries no loss
_MIN_ANSWER = 16            # tokens of answer a sequence must have room for
MAX_HELDOUT = 64            # held-out pairs whose loss is measured before and after
EXTRA_MISSING = "pip install 'codegen-hook[finetune]'"


class Pair(Protocol):
    """What training reads of a dataset.TrainingPair."""

    @property
    def id(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def qualname(self) -> str: ...
    @property
    def stub(self) -> str: ...
    @property
    def code(self) -> str: ...


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 200
    rank: int = 8
    alpha: float = 16.0
    lr: float = 2e-4
    max_length: int = 1024        # tokens of prompt + answer
    grad_accum: int = 1           # examples per optimizer step (batch 1 each)
    seed: int = 0
    threads: int = 0              # torch's CPU threads; 0: torch's default
    targets: tuple[str, ...] = DEFAULT_TARGETS

    def validated(self) -> TrainConfig:
        for key in ("steps", "rank", "grad_accum"):
            if getattr(self, key) < 1:
                raise ConfigError(f"finetune: {key} must be at least 1")
        if self.alpha <= 0 or self.lr <= 0:
            raise ConfigError("finetune: alpha and lr must be positive numbers")
        if self.max_length < 64:
            raise ConfigError("finetune: max_length must be at least 64 tokens")
        if self.threads < 0 or not self.targets:
            raise ConfigError("finetune: threads must be 0 or more, and targets not empty")
        return self


@dataclass(frozen=True)
class Example:
    pair_id: str
    input_ids: list[int]
    labels: list[int]             # IGNORE over the prompt
    truncated: bool

    @property
    def answer_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


@dataclass(frozen=True)
class Step:
    """One optimizer step, for the progress callback."""

    step: int
    steps: int
    loss: float                   # mean over the step's examples
    seconds: float
    tokens: int                   # answer tokens the loss was taken over


@dataclass
class TrainedLora:
    """The adapter's weights (PEFT's state dict, as float32 numpy) and how they came."""

    state: dict[str, Any]
    arch: str                     # the base model's architecture (model_type)
    n_blocks: int
    rank: int
    alpha: float
    examples: int
    skipped: int                  # pairs whose prompt alone exceeds max_length
    truncated: int
    device: str
    load_seconds: float
    train_seconds: float
    losses: list[float] = field(default_factory=list)
    # mean answer-token loss over the held-out pairs, without and with the adapter
    heldout_loss_before: float | None = None
    heldout_loss_after: float | None = None
    heldout_examples: int = 0

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        del data["state"], data["losses"]
        losses = self.losses or [float("nan")]
        window = max(1, len(losses) // 5)  # each step sees other pairs: one loss is noise
        data.update(steps=len(self.losses), first_loss=losses[0], final_loss=losses[-1],
                    mean_loss=sum(losses) / len(losses), loss_window=window,
                    start_loss=sum(losses[:window]) / window,
                    end_loss=sum(losses[-window:]) / window)
        return data


def _stub_of(pair: Pair) -> tuple[Stub, str]:
    """The pair's stub as find_stubs would give it, and a module holding only it."""
    parts = pair.qualname.split(".")
    classes = tuple(part for part in parts[:-1] if part != "<locals>")[-1:]
    source = textwrap.indent(pair.stub, "    ") if classes else pair.stub
    module = f"class {classes[0]}:\n{source}" if classes else source
    stub = Stub(name=parts[-1], qualname=pair.qualname, def_line=1 + len(classes),
                start_line=1 + len(classes), end_line=module.count("\n"), ellipsis_line=0,
                body_indent="    " * (1 + len(classes)), is_async=False,
                class_names=classes, docstring="", source=source)
    return stub, module


def training_messages(pair: Pair) -> list[Message]:
    """The request `fill` would make for the pair's stub (stub_messages)."""
    stub, module = _stub_of(pair)
    return stub_messages(stub, module, Path(pair.path))


def training_answer(pair: Pair) -> str:
    """The answer the system prompt asks for: the complete function in one ```python
    block, in the block the request showed (a method inside its class)."""
    stub, _ = _stub_of(pair)
    code = pair.code.rstrip()
    if stub.is_method:
        code = f"class {stub.class_names[-1]}:\n" + textwrap.indent(code, "    ")
    return f"```python\n{code}\n```"


def _render(tokenizer: Any, messages: list[Message], answer: str) -> tuple[str, str]:
    """(prompt text up to the assistant's turn, the answer with the turn's end)."""
    chat = [{"role": m.role, "content": m.content} for m in messages]
    prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(chat + [{"role": "assistant", "content": answer}],
                                         tokenize=False)
    if isinstance(full, str) and full.startswith(prompt):
        return prompt, full[len(prompt):].rstrip("\n")
    return prompt, answer + (tokenizer.eos_token or "")


def encode_example(pair: Pair, tokenizer: Any, max_length: int) -> Example | None:
    """Token ids and labels of one pair; None when the prompt leaves no room."""
    prompt, answer = _render(tokenizer, training_messages(pair), training_answer(pair))
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    answer_ids = list(tokenizer(answer, add_special_tokens=False)["input_ids"])
    if len(prompt_ids) + _MIN_ANSWER > max_length:
        return None
    room = max_length - len(prompt_ids)
    kept = answer_ids[:room]
    return Example(pair.id, prompt_ids + kept, [IGNORE] * len(prompt_ids) + kept,
                   len(kept) < len(answer_ids))


def _import_extra() -> tuple[Any, Any, Any]:
    os.environ["HF_HUB_OFFLINE"] = "1"       # before huggingface_hub reads it
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:  # by name: typed as Any, whether the extra is installed or not
        torch, transformers, peft = (importlib.import_module(name)
                                     for name in ("torch", "transformers", "peft"))
    except ImportError as exc:
        raise FinetuneError(f"fine-tuning needs the finetune extra ({exc.name} cannot be "
                            f"imported): {EXTRA_MISSING}") from exc
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return torch, transformers, peft


def load_base(base: Path) -> tuple[Any, Any]:
    """(model in float32, tokenizer) from a GGUF file or a Hugging Face checkpoint
    folder, both local only."""
    torch, transformers, _ = _import_extra()
    if base.is_file():
        where: dict[str, Any] = {"pretrained_model_name_or_path": str(base.parent),
                                 "gguf_file": base.name}
    elif (base / "config.json").is_file():
        where = {"pretrained_model_name_or_path": str(base)}
    else:
        raise FinetuneError(f"base model {base}: neither a GGUF file nor a Hugging Face "
                            "checkpoint folder (with config.json); pass --base with one")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tokenizer = transformers.AutoTokenizer.from_pretrained(**where,
                                                                   local_files_only=True)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                **where, dtype=torch.float32, local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise FinetuneError(f"base model {base}: transformers cannot load it ({exc}); pass "
                            "--base with a GGUF of a supported architecture (qwen2) or a "
                            "Hugging Face checkpoint folder") from exc
    return model, tokenizer


def _encoded(pairs: Sequence[Pair], tokenizer: Any,
             max_length: int) -> tuple[list[Example], int]:
    examples = [encode_example(pair, tokenizer, max_length) for pair in pairs]
    kept = [example for example in examples if example is not None]
    if not kept:
        raise FinetuneError(f"none of the {len(pairs)} training pairs fits max_length "
                            f"{max_length} tokens; raise --max-length")
    return kept, len(examples) - len(kept)


def _order(count: int, seed: int) -> Iterator[int]:
    """Example indices, each epoch a fresh seeded shuffle."""
    rng = random.Random(seed)
    while True:
        indices = list(range(count))
        rng.shuffle(indices)
        yield from indices


def _answer_loss(torch: Any, model: Any, example: Example, device: str) -> Any:
    """Cross-entropy over the answer's tokens; the output layer runs only there."""
    ids = torch.tensor([example.input_ids], device=device)
    targets = torch.tensor([example.labels[1:]], device=device)
    base = model.get_base_model()
    hidden = base.get_decoder()(input_ids=ids, use_cache=False).last_hidden_state
    keep = targets != IGNORE
    logits = base.get_output_embeddings()(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep])


def _mean_loss(torch: Any, model: Any, examples: Sequence[Example], device: str
               ) -> float | None:
    """Mean answer-token loss over `examples` (no gradients): the held-out measure."""
    if not examples:
        return None
    model.eval()
    with torch.no_grad():
        total = sum(float(_answer_loss(torch, model, e, device)) for e in examples)
    model.train()
    return total / len(examples)


def _wrap(peft: Any, model: Any, config: TrainConfig) -> Any:
    lora = peft.LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=0.0,
                           target_modules=list(config.targets), task_type="CAUSAL_LM")
    try:
        return peft.get_peft_model(model, lora)
    except ValueError as exc:
        raise FinetuneError(f"LoRA cannot wrap this model ({exc}); check the target "
                            f"modules {', '.join(config.targets)}") from exc


def train_lora(pairs: Sequence[Pair], base: Path, config: TrainConfig,
               progress: Callable[[Step], None] | None = None,
               heldout: Sequence[Pair] = ()) -> TrainedLora:
    """Train a LoRA on `pairs` for `config.steps` optimizer steps (`progress` after each).
    With `heldout`, the mean answer loss over those pairs is measured before (the new
    adapter's B matrices are zero, so that is the base model) and after training."""
    config = config.validated()
    torch, _, peft = _import_extra()
    if not pairs:
        raise FinetuneError("no training pairs; build them first: codegen-hook dataset build")
    if config.threads:
        torch.set_num_threads(config.threads)
    start = time.perf_counter()
    model, tokenizer = load_base(base)
    examples, skipped = _encoded(pairs, tokenizer, config.max_length)
    torch.manual_seed(config.seed)           # the LoRA's initial A matrices
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _wrap(peft, model, config).to(device)
    kept_out, _ = _encoded(heldout[:MAX_HELDOUT], tokenizer, config.max_length)
    loss_before = _mean_loss(torch, model, kept_out, device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    warmup = max(1, config.steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda done: min(1.0, (done + 1) / warmup))
    load_seconds = time.perf_counter() - start
    order = _order(len(examples), config.seed)
    losses: list[float] = []
    for number in range(1, config.steps + 1):
        began = time.perf_counter()
        total, tokens = 0.0, 0
        for _ in range(config.grad_accum):
            example = examples[next(order)]
            loss = _answer_loss(torch, model, example, device)
            (loss / config.grad_accum).backward()
            total += float(loss.detach())
            tokens += example.answer_tokens
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(total / config.grad_accum)
        if progress:
            progress(Step(number, config.steps, losses[-1], time.perf_counter() - began,
                          tokens))
    state = peft.get_peft_model_state_dict(model, save_embedding_layers=False)
    return TrainedLora(
        state={name: value.detach().float().cpu().numpy() for name, value in state.items()},
        arch=str(model.config.model_type), n_blocks=int(model.config.num_hidden_layers),
        rank=config.rank, alpha=config.alpha, examples=len(examples), skipped=skipped,
        truncated=sum(e.truncated for e in examples), device=device,
        load_seconds=load_seconds,
        train_seconds=time.perf_counter() - start - load_seconds, losses=losses,
        heldout_loss_before=loss_before,
        heldout_loss_after=_mean_loss(torch, model, kept_out, device),
        heldout_examples=len(kept_out))


@dataclass(frozen=True)
class FinetuneResult:
    adapter: Path                 # the sealed adapter, for lora_path
    size: int                     # bytes of the GGUF inside
    sha256: str                   # of the GGUF inside
    base: str
    training: dict[str, Any]      # TrainedLora.summary(): steps, losses, examples, times
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"adapter": str(self.adapter), "size": self.size, "sha256": self.sha256,
                "base": self.base, "encrypted": True, **self.training,
                "seconds": round(self.seconds, 3)}


def adapter_path(root: Path, settings: Settings, when: datetime | None = None) -> Path:
    """Where a new adapter of the repository at `root` goes: the data dir's
    `adapters/<the dataset's repository hash>/<folder name>-<UTC time>.gguf.sealed`."""
    from codegen_hook.config import data_dir
    from codegen_hook.finetune.dataset import dataset_dir

    stamp = (when or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    repo = dataset_dir(root, settings).name
    return data_dir(settings) / "adapters" / repo / f"{root.resolve().name}-{stamp}.gguf.sealed"


def base_model_path(settings: Settings, data_dir: Path, base: Path | None = None) -> Path:
    """The base to train: `base` if given, else the configured model's GGUF (a known
    model is assembled if needed; an encrypted private model is refused)."""
    from codegen_hook.models import find_private_model, resolve_model_path

    if base is not None:
        return base.expanduser()
    private = find_private_model(settings.model, data_dir)
    if private is not None and private.encrypted:
        raise FinetuneError(f"model {settings.model!r} is stored encrypted, and transformers "
                            "reads only plain files; pass --base with its GGUF or a Hugging "
                            "Face checkpoint folder")
    return resolve_model_path(settings.model, data_dir)


def finetune(pairs: Sequence[Pair], *, base: Path, config: TrainConfig, target: Path,
             sealer: StreamSealer, progress: Callable[[Step], None] | None = None,
             heldout: Sequence[Pair] = ()) -> FinetuneResult:
    """Train a LoRA on `pairs`, export it as a llama.cpp adapter and store it sealed
    at `target` (adapter_path). A GGUF base's tensor shapes are checked first."""
    start = time.perf_counter()
    trained = train_lora(pairs, base, config, progress, heldout)
    shapes = base_tensor_shapes(base) if base.is_file() else None
    tensors = adapter_tensors(trained.state, trained.arch, trained.n_blocks, shapes)
    exported = export_adapter(tensors, arch=trained.arch, alpha=trained.alpha, target=target,
                              sealer=sealer,
                              name=f"codegen-hook LoRA r{trained.rank} of {base.name}")
    return FinetuneResult(exported.path, exported.size, exported.sha256, str(base),
                          {**trained.summary(), "lr": config.lr,
                           "max_length": config.max_length},
                          time.perf_counter() - start)
