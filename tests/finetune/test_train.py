"""LoRA training: examples in the fill pipeline's own prompt and answer form, the prompt
masked out of the loss; and (real model) pairs → training → export → sealed adapter →
the embedded backend generating with it."""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from codegen_hook.backends import make_backend
from codegen_hook.backends.base import CompletionRequest
from codegen_hook.cli import main
from codegen_hook.config import Settings, data_dir
from codegen_hook.errors import ConfigError, FinetuneError
from codegen_hook.finetune.dataset import TrainingPair, dataset_dir
from codegen_hook.finetune.train import (IGNORE, TrainConfig, adapter_path, base_model_path,
                                         encode_example, train_lora, training_answer,
                                         training_messages)
from codegen_hook.models import add_private_model
from codegen_hook.pipeline.extract import extract_body
from codegen_hook.pipeline.prompts import stub_messages
from codegen_hook.stubs import find_stubs

ADD_STUB = 'def add(a: int, b: int) -> int:\n    """Add a and b."""\n    ...\n'
ADD_CODE = 'def add(a: int, b: int) -> int:\n    """Add a and b."""\n    return a + b\n'
SIZE_STUB = '@property\ndef size(self) -> int:\n    """How many items."""\n    ...\n'
SIZE_CODE = ('@property\ndef size(self) -> int:\n    """How many items."""\n'
             '    items = self.items\n    return len(items)\n')
PAIRS = [
    TrainingPair("a", "pkg/maths.py", "add", ADD_STUB, ADD_CODE, "train"),
    TrainingPair("b", "pkg/box.py", "Box.size", SIZE_STUB, SIZE_CODE, "train"),
    TrainingPair("c", "pkg/text.py", "shout", 'def shout(text: str) -> str:\n    """Upper '
                 'case, with a bang."""\n    ...\n', 'def shout(text: str) -> str:\n    """Upper '
                 'case, with a bang."""\n    return text.upper() + "!"\n', "train"),
]


class CharTokenizer:
    """One token per character, with a ChatML template like Qwen's."""

    eos_token = "<|im_end|>"

    def apply_chat_template(self, chat: list[dict[str, str]], tokenize: bool = False,
                            add_generation_prompt: bool = False) -> str:
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in chat)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text]}


def test_a_function_is_asked_for_as_fill_asks_for_its_stub() -> None:
    stub = find_stubs(ADD_STUB).stubs[0]
    assert training_messages(PAIRS[0]) == stub_messages(stub, ADD_STUB, Path("pkg/maths.py"))


def test_a_method_is_asked_for_inside_its_class_as_fill_does() -> None:
    module = "class Box:\n" + "".join(f"    {line}\n" for line in SIZE_STUB.splitlines())
    stub = find_stubs(module).stubs[0]
    assert stub.qualname == "Box.size"
    expected = stub_messages(stub, module, Path("pkg/box.py"))
    assert training_messages(PAIRS[1]) == expected
    assert "class Box:\n    @property\n    def size" in expected[1].content


@pytest.mark.parametrize("pair, body", [(PAIRS[0], "return a + b"),
                                        (PAIRS[1], "items = self.items\nreturn len(items)")])
def test_the_answer_is_one_python_block_that_extract_reads(pair: TrainingPair,
                                                           body: str) -> None:
    answer = training_answer(pair)
    assert answer.startswith("```python\n") and answer.endswith("\n```")
    extracted = extract_body(answer, pair.qualname.split(".")[-1])
    assert extracted is not None and extracted.body == body


def test_only_the_answer_and_its_end_of_turn_carry_a_loss() -> None:
    tokenizer = CharTokenizer()
    example = encode_example(PAIRS[0], tokenizer, 4096)
    assert example is not None and not example.truncated
    chat = [{"role": m.role, "content": m.content} for m in training_messages(PAIRS[0])]
    prompt = tokenizer.apply_chat_template(chat, add_generation_prompt=True)
    answer = training_answer(PAIRS[0]) + "<|im_end|>"
    assert example.input_ids == [ord(c) for c in prompt + answer]
    assert example.labels == [IGNORE] * len(prompt) + [ord(c) for c in answer]
    assert example.answer_tokens == len(answer)


def test_a_long_answer_is_cut_and_a_long_prompt_left_out() -> None:
    tokenizer = CharTokenizer()
    full = encode_example(PAIRS[0], tokenizer, 4096)
    assert full is not None
    prompt = full.labels.count(IGNORE)
    cut = encode_example(PAIRS[0], tokenizer, prompt + 20)
    assert cut is not None and cut.truncated and len(cut.input_ids) == prompt + 20
    assert cut.labels[prompt:] == full.labels[prompt:prompt + 20]
    assert encode_example(PAIRS[0], tokenizer, prompt + 10) is None


@pytest.mark.parametrize("change, message", [
    ({"steps": 0}, "steps must be at least 1"), ({"rank": 0}, "rank must be at least 1"),
    ({"lr": 0.0}, "must be positive"), ({"max_length": 10}, "at least 64"),
    ({"targets": ()}, "targets not empty")])
def test_bad_training_settings_are_config_errors(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**change).validated()


def test_a_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)   # `import torch` raises ImportError
    with pytest.raises(FinetuneError, match=r"pip install 'codegen-hook\[finetune\]'"):
        train_lora(PAIRS, Path("base.gguf"), TrainConfig(steps=1))


def test_adapters_go_sealed_under_the_data_dir_by_repository(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"))
    root = tmp_path / "myrepo"
    root.mkdir()
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    path = adapter_path(root, settings, when)
    assert path == (tmp_path / "data" / "adapters" / dataset_dir(root, settings).name /
                    "myrepo-20250102-030405.gguf.sealed")


def test_the_base_is_the_flag_or_the_model_but_never_a_sealed_one(tmp_path: Path) -> None:
    from codegen_hook.security.crypto import EncryptedCodec, new_data_key

    home = tmp_path / "data"
    given = tmp_path / "mine.gguf"
    given.write_bytes(b"GGUF" + b"\0" * 64)
    assert base_model_path(Settings(), home, given) == given
    assert base_model_path(Settings(model=str(given)), home) == given
    add_private_model(given, "sealed", home, EncryptedCodec({"k": new_data_key()}, "k"))
    with pytest.raises(FinetuneError, match="encrypted.*--base"):
        base_model_path(Settings(model="sealed"), home)


def test_the_cli_without_a_dataset_says_to_build_one(repo: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["finetune", str(repo), "--steps", "1"]) == 2
    assert "codegen-hook dataset build" in capsys.readouterr().err


def test_the_cli_trains_on_the_train_split_and_prints_the_config_line(
        repo: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from codegen_hook.finetune import train
    from codegen_hook.finetune.dataset import build_dataset
    from codegen_hook.config import resolve_settings

    (repo / "maths.py").write_text(ADD_CODE)
    (repo / "text.py").write_text(PAIRS[2].code)
    build_dataset(repo, resolve_settings(repo))   # one file each side
    seen: dict[str, Any] = {}

    def fake_finetune(pairs: list[TrainingPair], **kwargs: Any) -> train.FinetuneResult:
        seen.update(kwargs, pairs=pairs)
        kwargs["progress"](train.Step(1, 2, 0.5, 1.0, 10))
        return train.FinetuneResult(kwargs["target"], 1 << 20, "ab" * 32, str(kwargs["base"]),
                                    {"steps": 2, "examples": 1, "skipped": 0, "truncated": 0,
                                     "device": "cpu", "train_seconds": 2.0,
                                     "load_seconds": 3.0, "start_loss": 0.5, "end_loss": 0.4,
                                     "loss_window": 1, "mean_loss": 0.45}, 5.0)

    monkeypatch.setattr(train, "finetune", fake_finetune)
    monkeypatch.setattr(train, "base_model_path", lambda s, home, base: Path("/m/base.gguf"))
    assert main(["finetune", str(repo), "--steps", "2", "--rank", "4", "--lr", "1e-3"]) == 0
    out, err = capsys.readouterr()
    assert len(seen["pairs"]) == 1 and seen["pairs"][0].split == "train"
    assert [p.split for p in seen["heldout"]] == ["heldout"]
    config = seen["config"]
    assert (config.steps, config.rank, config.lr) == (2, 4, 1e-3)
    assert "step 1/2  loss 0.5000" in err
    target = seen["target"]
    assert target.parent.parent == data_dir(resolve_settings(repo)) / "adapters"
    assert f"lora_path: {target}" in out.splitlines()
    assert main(["finetune", str(repo), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["encrypted"] is True


# -- end to end, on the real model (CPU: a few minutes) ----------------------------------

@pytest.mark.real_model
def test_pairs_to_a_sealed_adapter_the_backend_generates_with(
        real_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for extra in ("torch", "transformers", "peft", "gguf"):
        pytest.importorskip(extra)
    from codegen_hook.finetune.train import finetune
    from codegen_hook.security.codec import codec_for

    settings = Settings(model=str(real_model_path), data_dir=str(tmp_path / "data"),
                        n_ctx=512, n_threads=1)
    home = data_dir(settings)
    steps: list[Any] = []
    start = time.perf_counter()
    result = finetune(PAIRS, base=real_model_path,
                      config=TrainConfig(steps=3, rank=4, lr=1e-3, max_length=256, threads=1),
                      target=adapter_path(tmp_path / "repo", settings),
                      sealer=codec_for(settings, home), progress=steps.append,
                      heldout=PAIRS[:1])
    trained_s = time.perf_counter() - start
    assert [s.step for s in steps] == [1, 2, 3] and all(s.tokens > 0 for s in steps)
    summary = result.to_json()
    assert summary["steps"] == 3 and summary["examples"] == 3 and summary["skipped"] == 0
    assert math.isfinite(summary["final_loss"]) and summary["device"] in ("cpu", "cuda")
    before, after = summary["heldout_loss_before"], summary["heldout_loss_after"]
    assert summary["heldout_examples"] == 1 and math.isfinite(before) and math.isfinite(after)
    assert before != after              # measured with the base model, then with the adapter
    assert result.adapter.is_relative_to(home / "adapters")
    assert result.adapter.read_bytes()[:4] == b"CGHS" and result.size > 1 << 20

    ask = CompletionRequest(messages=tuple(training_messages(PAIRS[2])), max_tokens=24)
    plain = make_backend(settings, home).complete(ask)
    tuned = make_backend(replace(settings, lora_path=str(result.adapter)), home).complete(ask)
    assert tuned.model.endswith("+lora:" + result.adapter.name.removesuffix(".gguf.sealed"))
    assert tuned.texts[0].strip()
    loud = make_backend(replace(settings, lora_path=str(result.adapter), lora_scale=50.0),
                        home).complete(ask)
    assert loud.texts[0] != plain.texts[0]   # the trained weights reach llama.cpp
    with capsys.disabled():
        print(f"\n[finetune e2e] train+export {trained_s:.0f} s, "
              f"{[round(s.seconds, 1) for s in steps]} s/step, losses "
              f"{[round(s.loss, 3) for s in steps]}; with the adapter: {tuned.texts[0]!r}")
