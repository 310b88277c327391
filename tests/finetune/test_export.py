"""A LoRA as llama.cpp reads it: PEFT names → GGUF names, shapes, metadata, sealing, and
the embedded backend loading it (sealed or plain) or refusing a wrong one."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codegen_hook.backends import make_backend
from codegen_hook.backends.base import CompletionRequest, Message
from codegen_hook.backends.llama import ADAPTER_ROLE, LlamaCppBackend, lora_options
from codegen_hook.config import Settings
from codegen_hook.errors import FinetuneError, ModelError
from codegen_hook.finetune import export as export_module
from codegen_hook.finetune.export import (adapter_tensors, base_tensor_shapes, export_adapter,
                                          gguf_weight_name, lora_pairs, write_adapter_gguf)
from codegen_hook.security.crypto import EncryptedCodec, new_data_key

gguf = pytest.importorskip("gguf")

IN, OUT, RANK = 896, 128, 4
PREFIX = "base_model.model.model.layers"


def peft_state(layers: int = 2, rank: int = RANK, out: int = OUT) -> dict[str, np.ndarray]:
    """What peft.get_peft_model_state_dict gives for k_proj (896 → 128) LoRAs."""
    rng = np.random.default_rng(0)
    state = {}
    for layer in range(layers):
        name = f"{PREFIX}.{layer}.self_attn.k_proj"
        state[f"{name}.lora_A.weight"] = rng.standard_normal((rank, IN)).astype(np.float32)
        state[f"{name}.lora_B.weight"] = rng.standard_normal((out, rank)).astype(np.float32)
    return state


@pytest.fixture
def codec() -> EncryptedCodec:
    return EncryptedCodec({"k": new_data_key()}, "k")


@pytest.mark.parametrize("hf, expected", [
    ("model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"),
    ("model.layers.3.self_attn.k_proj.weight", "blk.3.attn_k.weight"),
    ("model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight"),
    ("model.layers.23.self_attn.o_proj.weight", "blk.23.attn_output.weight"),
    ("model.layers.1.mlp.gate_proj.weight", "blk.1.ffn_gate.weight"),
    ("model.layers.1.mlp.up_proj.weight", "blk.1.ffn_up.weight"),
    ("model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight"),
])
def test_qwen2_weights_get_llama_cpp_names(hf: str, expected: str) -> None:
    assert gguf_weight_name(hf, "qwen2", 24) == expected


def test_a_weight_without_a_gguf_name_and_another_arch_are_refused() -> None:
    with pytest.raises(FinetuneError, match="no GGUF name"):
        gguf_weight_name("model.layers.0.self_attn.rotary.weight", "qwen2", 24)
    with pytest.raises(FinetuneError, match="'llama'.*only qwen2"):
        gguf_weight_name("model.layers.0.self_attn.q_proj.weight", "llama", 24)


def test_peft_names_pair_up_with_or_without_the_adapter_name() -> None:
    a, b = np.zeros((RANK, IN)), np.zeros((OUT, RANK))
    pairs = lora_pairs({f"{PREFIX}.0.self_attn.k_proj.lora_A.weight": a,
                        f"{PREFIX}.0.self_attn.k_proj.lora_B.default.weight": b})
    assert list(pairs) == ["model.layers.0.self_attn.k_proj.weight"]
    assert pairs["model.layers.0.self_attn.k_proj.weight"][0] is a
    with pytest.raises(FinetuneError, match="only lora_A"):
        lora_pairs({f"{PREFIX}.0.self_attn.k_proj.lora_A.weight": a})
    with pytest.raises(FinetuneError, match="not a LoRA weight"):
        lora_pairs({f"{PREFIX}.0.self_attn.k_proj.weight": a})


def test_tensors_keep_peft_layouts_and_are_checked_against_the_base() -> None:
    tensors = adapter_tensors(peft_state(), "qwen2", 24)
    assert sorted(tensors) == ["blk.0.attn_k.weight.lora_a", "blk.0.attn_k.weight.lora_b",
                               "blk.1.attn_k.weight.lora_a", "blk.1.attn_k.weight.lora_b"]
    assert tensors["blk.0.attn_k.weight.lora_a"].shape == (RANK, IN)
    assert tensors["blk.0.attn_k.weight.lora_b"].shape == (OUT, RANK)
    assert all(t.dtype == np.float32 for t in tensors.values())
    base = {f"blk.{n}.attn_k.weight": (IN, OUT) for n in range(2)}   # GGUF ne order
    assert adapter_tensors(peft_state(), "qwen2", 24, base).keys() == tensors.keys()
    with pytest.raises(FinetuneError, match="the base model has \\(896, 256\\)"):
        adapter_tensors(peft_state(), "qwen2", 24, {k: (IN, 256) for k in base})
    bad = peft_state()
    bad[f"{PREFIX}.0.self_attn.k_proj.lora_B.weight"] = np.zeros((OUT, RANK + 1), np.float32)
    with pytest.raises(FinetuneError, match="of one rank"):
        adapter_tensors(bad, "qwen2", 24)
    with pytest.raises(FinetuneError, match="no LoRA weights"):
        adapter_tensors({}, "qwen2", 24)


def field(reader: Any, key: str) -> Any:
    return reader.fields[key].contents()


def test_the_gguf_is_a_llama_cpp_lora_adapter(tmp_path: Path) -> None:
    tensors = adapter_tensors(peft_state(), "qwen2", 24)
    path = tmp_path / "a.gguf"
    write_adapter_gguf(path, tensors, "qwen2", alpha=8.0, name="test adapter")
    reader = gguf.GGUFReader(str(path))
    assert field(reader, "general.architecture") == "qwen2"
    assert field(reader, "general.type") == "adapter"
    assert field(reader, "adapter.type") == "lora"
    assert field(reader, "general.name") == "test adapter"
    alpha = reader.fields["adapter.lora.alpha"]
    assert alpha.types == [gguf.GGUFValueType.FLOAT32] and alpha.contents() == 8.0
    found = {t.name: t for t in reader.tensors}
    assert found.keys() == tensors.keys()
    a, b = found["blk.1.attn_k.weight.lora_a"], found["blk.1.attn_k.weight.lora_b"]
    # ne order, as llama.cpp checks it: a [in, rank], b [rank, out]
    assert list(a.shape) == [IN, RANK] and list(b.shape) == [RANK, OUT]
    assert a.tensor_type == gguf.GGMLQuantizationType.F32
    assert np.array_equal(np.asarray(a.data).reshape(RANK, IN),
                          tensors["blk.1.attn_k.weight.lora_a"])


def test_export_seals_the_adapter_and_leaves_no_plaintext(
        tmp_path: Path, codec: EncryptedCodec, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch: list[Path] = []
    real_mkdtemp = export_module.tempfile.mkdtemp

    def recording_mkdtemp(**kwargs: Any) -> str:
        folder = real_mkdtemp(**kwargs)
        scratch.append(Path(folder))
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        return folder

    monkeypatch.setattr(export_module.tempfile, "mkdtemp", recording_mkdtemp)
    tensors = adapter_tensors(peft_state(), "qwen2", 24)
    target = tmp_path / "data" / "adapters" / "repo" / "r-1.gguf.sealed"
    exported = export_adapter(tensors, arch="qwen2", alpha=8.0, target=target, sealer=codec)
    assert exported.path == target and exported.encrypted and exported.tensors == 4
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert scratch and not scratch[0].exists()
    sealed = target.read_bytes()
    assert sealed[:4] == b"CGHS" and b"lora_a" not in sealed
    with target.open("rb") as source:
        plain = b"".join(codec.open_stream(ADAPTER_ROLE, source))
    assert plain[:4] == b"GGUF" and len(plain) == exported.size
    assert [p for p in target.parent.iterdir()] == [target]


def test_a_failed_export_leaves_neither_plaintext_nor_target(
        tmp_path: Path, codec: EncryptedCodec, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch: list[Path] = []
    real_mkdtemp = export_module.tempfile.mkdtemp

    def recording_mkdtemp(**kwargs: Any) -> str:
        scratch.append(Path(real_mkdtemp(**kwargs)))
        return str(scratch[-1])

    monkeypatch.setattr(export_module.tempfile, "mkdtemp", recording_mkdtemp)

    def broken(*args: Any, **kwargs: Any) -> None:
        (scratch[-1] / "adapter.gguf").write_bytes(b"GGUF half")
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "write_adapter_gguf", broken)
    target = tmp_path / "adapters" / "x.gguf.sealed"
    with pytest.raises(OSError, match="disk full"):
        export_adapter({}, arch="qwen2", alpha=1.0, target=target, sealer=codec)
    assert not target.exists() and not scratch[0].exists()


# -- the embedded backend with an adapter (real model; no torch needed) ----------------

ASK = CompletionRequest(messages=(Message("user", "Write a Python function that adds two "
                                          "numbers."),), max_tokens=12)


def random_adapter(model: Path, path: Path, blocks: int = 24, scale: float = 0.05,
                   wrong_shape: bool = False) -> None:
    """A rank-4 LoRA on every attn_q of `model`, random (so it changes the output)."""
    shapes = base_tensor_shapes(model)
    rng = np.random.default_rng(1)
    state = {}
    for layer in range(blocks):
        n_in, n_out = shapes[f"blk.{layer}.attn_q.weight"]
        name = f"{PREFIX}.{layer}.self_attn.q_proj"
        state[f"{name}.lora_A.weight"] = scale * rng.standard_normal((RANK, n_in))
        state[f"{name}.lora_B.weight"] = scale * rng.standard_normal((n_out, RANK))
    tensors = adapter_tensors(state, "qwen2", blocks)
    if wrong_shape:
        tensors["blk.0.attn_q.weight.lora_b"] = np.zeros((64, RANK), np.float32)
    write_adapter_gguf(path, tensors, "qwen2", alpha=RANK)


@pytest.fixture(scope="module")
def base_text(real_model_path: Path) -> Iterator[str]:
    yield LlamaCppBackend(real_model_path, n_ctx=512, n_threads=1).complete(ASK).texts[0]


@pytest.mark.real_model
def test_llama_cpp_applies_a_plain_adapter(real_model_path: Path, tmp_path: Path,
                                           base_text: str) -> None:
    adapter = tmp_path / "rand.gguf"
    random_adapter(real_model_path, adapter)
    backend = LlamaCppBackend(real_model_path, n_ctx=512, n_threads=1, lora_path=adapter,
                              lora_scale=4.0)
    completion = backend.complete(ASK)
    assert completion.model == "llama-cpp:qwen2.5-coder-0.5b-instruct.gguf+lora:rand@4"
    assert completion.texts[0] and completion.texts[0] != base_text
    # scale 0: loaded, applied, changes nothing
    off = LlamaCppBackend(real_model_path, n_ctx=512, n_threads=1, lora_path=adapter,
                          lora_scale=0.0)
    assert off.complete(ASK).texts[0] == base_text


@pytest.mark.real_model
def test_a_sealed_adapter_loads_through_the_settings(real_model_path: Path, tmp_path: Path,
                                                     base_text: str) -> None:
    from codegen_hook.security.codec import codec_for

    settings = Settings(model=str(real_model_path), n_ctx=512, n_threads=1)
    home = tmp_path / "data"
    codec = codec_for(settings, home)
    plain = tmp_path / "rand.gguf"
    random_adapter(real_model_path, plain)
    sealed = home / "adapters" / "r" / "rand.gguf.sealed"
    sealed.parent.mkdir(parents=True)
    with plain.open("rb") as source, sealed.open("wb") as sink:
        codec.seal_stream(ADAPTER_ROLE, source, sink)
    settings = Settings(model=str(real_model_path), n_ctx=512, n_threads=1,
                        lora_path=str(sealed), lora_scale=4.0)
    backend = make_backend(settings, home)
    assert isinstance(backend, LlamaCppBackend) and backend.lora_decrypt is not None
    completion = backend.complete(ASK)
    assert "+lora:rand@4" in completion.model
    assert completion.texts[0] != base_text
    plain_backend = LlamaCppBackend(real_model_path, n_ctx=512, n_threads=1,
                                    lora_path=plain, lora_scale=4.0)
    assert plain_backend.complete(ASK).texts[0] == completion.texts[0]


@pytest.mark.real_model
def test_an_adapter_of_the_wrong_shape_is_refused_with_llama_cpp_s_reason(
        real_model_path: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "wrong.gguf"
    random_adapter(real_model_path, adapter, blocks=2, wrong_shape=True)
    backend = LlamaCppBackend(real_model_path, n_ctx=512, n_threads=1, lora_path=adapter)
    for _ in range(2):  # and again: never the bare model instead
        with pytest.raises(ModelError, match="refused the LoRA adapter.*incorrect shape"):
            backend.complete(ASK)


def test_a_lora_path_that_is_not_gguf_is_refused_before_llama_cpp(tmp_path: Path) -> None:
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_bytes(b"hello")
    settings = Settings(lora_path=str(not_gguf))
    options = lora_options(settings, tmp_path)
    assert options == {"lora_path": not_gguf, "lora_scale": 1.0}
    backend = LlamaCppBackend(not_gguf, **options)
    with pytest.raises(ModelError, match="neither a GGUF file nor an adapter sealed"):
        backend._load_adapter(object())
    with pytest.raises(ModelError, match="cannot read it"):
        lora_options(Settings(lora_path=str(tmp_path / "missing.gguf")), tmp_path)
    assert lora_options(Settings(), tmp_path) == {}
