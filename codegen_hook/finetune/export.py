"""A trained LoRA as a llama.cpp adapter: one GGUF file, sealed into the data dir.

The file is the one llama.cpp's convert_lora_to_gguf.py writes: `general.architecture`
of the base model, `general.type` "adapter", `adapter.type` "lora", `adapter.lora.alpha`,
and for each adapted weight W under its GGUF name (`blk.3.attn_q.weight`, from gguf-py's
own HF → GGUF name map) the pair `W.lora_a`, `W.lora_b`. gguf-py writes a numpy array's
last axis as ggml's ne[0], so PEFT's layouts go through unchanged: lora_A (rank, in) is
ne [in, rank] and lora_B (out, rank) is ne [rank, out], which is what llama.cpp checks
against the base tensor's ne [in, out]. llama.cpp scales the product by alpha / rank
(times the runtime `lora_scale`), as PEFT does.

Only architectures whose HF → GGUF conversion renames these weights without reshaping
them are accepted (qwen2); the converter permutes llama's q/k, for one, and a LoRA on
them would need the same permutation of B.

The adapter derives from the user's code, so it is stored sealed (a stream, like a
private model): the plaintext GGUF exists only in a 0700 temp folder while it is
written and sealed, and that folder is removed whatever happens.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from codegen_hook.atomic import atomic_file
from codegen_hook.backends.llama import ADAPTER_ROLE
from codegen_hook.errors import FinetuneError
from codegen_hook.security.perms import private_folder

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ADAPTER_ROLE", "SUPPORTED_ARCHS", "ExportedAdapter", "adapter_tensors",
           "base_tensor_shapes", "export_adapter", "gguf_weight_name", "lora_pairs",
           "write_adapter_gguf"]

SUPPORTED_ARCHS = ("qwen2",)
_PEFT_NAME = re.compile(r"^(?:base_model\.model\.)?(?P<base>.+)\.lora_(?P<side>[AB])"
                        r"(?:\.[A-Za-z0-9_-]+)?\.weight$")
_GGUF_MISSING = ("exporting an adapter needs the gguf package: "
                 "pip install 'codegen-hook[finetune]'")


class StreamSealer(Protocol):
    def seal_stream(self, role: str, source: BinaryIO, sink: BinaryIO) -> int: ...


@dataclass(frozen=True)
class ExportedAdapter:
    path: Path          # the sealed adapter in the data dir
    size: int           # bytes of the plaintext GGUF
    sha256: str         # of the plaintext GGUF
    tensors: int        # lora_a + lora_b tensors written
    encrypted: bool


def _gguf() -> Any:
    try:  # by name: typed as Any, whether the extra is installed or not
        return importlib.import_module("gguf")
    except ImportError as exc:
        raise FinetuneError(_GGUF_MISSING) from exc


def _arch(gguf: Any, arch: str) -> Any:
    if arch not in SUPPORTED_ARCHS:
        raise FinetuneError(f"exporting a LoRA for a {arch!r} model is not supported (only "
                            f"{', '.join(SUPPORTED_ARCHS)}); fine-tune a Qwen2.5 model, "
                            "e.g. the default qwen2.5-coder-0.5b-instruct")
    return next(key for key, name in gguf.MODEL_ARCH_NAMES.items() if name == arch)


def gguf_weight_name(hf_name: str, arch: str, n_blocks: int) -> str:
    """The GGUF name of a Hugging Face weight: `model.layers.0.self_attn.q_proj.weight`
    → `blk.0.attn_q.weight`, by gguf-py's tensor name map."""
    gguf = _gguf()
    names = gguf.get_tensor_name_map(_arch(gguf, arch), n_blocks)
    found = names.get_name(hf_name, try_suffixes=(".weight",))
    if found is None:
        raise FinetuneError(f"{hf_name} has no GGUF name for {arch} with {n_blocks} blocks; "
                            "train LoRA only on the attention and MLP projections "
                            "(the default target modules)")
    return str(found)


def lora_pairs(state: Mapping[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """PEFT's state dict (`base_model.model.<weight>.lora_A[.adapter].weight` …) as
    {HF weight name: (A, B)}; both halves must be there."""
    halves: dict[str, dict[str, np.ndarray]] = {}
    for name, value in state.items():
        match = _PEFT_NAME.match(name)
        if match is None:
            raise FinetuneError(f"{name} is not a LoRA weight (lora_A / lora_B); export only "
                                "the adapter's state dict (peft.get_peft_model_state_dict)")
        halves.setdefault(match["base"] + ".weight", {})[match["side"]] = value
    pairs = {}
    for base, sides in halves.items():
        if set(sides) != {"A", "B"}:
            raise FinetuneError(f"{base}: the adapter holds only lora_{''.join(sides)}; "
                                "export the whole adapter state dict")
        pairs[base] = (sides["A"], sides["B"])
    return pairs


def adapter_tensors(state: Mapping[str, np.ndarray], arch: str, n_blocks: int,
                    base_shapes: Mapping[str, tuple[int, ...]] | None = None
                    ) -> dict[str, np.ndarray]:
    """{`blk.N.….weight.lora_a` / `.lora_b`: float32 array} from PEFT's state dict,
    each pair checked: A (rank, in), B (out, rank), the same rank; and with
    `base_shapes` (GGUF ne order, see base_tensor_shapes) in == ne[0], out == ne[1]."""
    import numpy as np

    out: dict[str, np.ndarray] = {}
    for hf_name, (lora_a, lora_b) in sorted(lora_pairs(state).items()):
        target = gguf_weight_name(hf_name, arch, n_blocks)
        if lora_a.ndim != 2 or lora_b.ndim != 2 or lora_a.shape[0] != lora_b.shape[1]:
            raise FinetuneError(f"{hf_name}: lora_A {lora_a.shape} and lora_B {lora_b.shape} "
                                "are not (rank, in) and (out, rank) of one rank")
        if base_shapes is not None:
            ne = base_shapes.get(target)
            if ne is None or tuple(ne[:2]) != (lora_a.shape[1], lora_b.shape[0]):
                raise FinetuneError(f"{target}: the adapter is {lora_a.shape[1]} → "
                                    f"{lora_b.shape[0]}, the base model has "
                                    f"{'no such tensor' if ne is None else tuple(ne)}; "
                                    "train on the model the adapter will be used with")
        out[f"{target}.lora_a"] = np.ascontiguousarray(lora_a, dtype=np.float32)
        out[f"{target}.lora_b"] = np.ascontiguousarray(lora_b, dtype=np.float32)
    if not out:
        raise FinetuneError("the adapter has no LoRA weights; train with at least one "
                            "target module")
    return out


def base_tensor_shapes(model: Path) -> dict[str, tuple[int, ...]]:
    """{tensor name: ne} of a GGUF model, read from its header (the weights stay on disk)."""
    gguf = _gguf()
    try:
        reader = gguf.GGUFReader(str(model))
    except (OSError, ValueError) as exc:
        raise FinetuneError(f"{model}: cannot read it as GGUF ({exc}); pass --base with the "
                            "GGUF the adapter is for") from exc
    return {tensor.name: tuple(int(n) for n in tensor.shape) for tensor in reader.tensors}


def write_adapter_gguf(path: Path, tensors: Mapping[str, np.ndarray], arch: str,
                       alpha: float, name: str = "") -> None:
    """Write `tensors` (from adapter_tensors) as a llama.cpp LoRA adapter at `path`."""
    gguf = _gguf()
    _arch(gguf, arch)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    if name:
        writer.add_name(name)
    for tensor_name, data in tensors.items():
        writer.add_tensor(tensor_name, data)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def export_adapter(tensors: Mapping[str, np.ndarray], *, arch: str, alpha: float,
                   target: Path, sealer: StreamSealer, name: str = "") -> ExportedAdapter:
    """Write the GGUF adapter in a 0700 temp folder, seal it into `target` (atomically;
    its folder made 0700) and remove the plaintext."""
    private_folder(target.parent)
    scratch = Path(tempfile.mkdtemp(prefix="codegen-hook-lora-"))  # mkdtemp: mode 0700
    try:
        plain = scratch / "adapter.gguf"
        write_adapter_gguf(plain, tensors, arch, alpha, name)
        with open(plain, "rb") as source, atomic_file(target) as sink:
            size = sealer.seal_stream(ADAPTER_ROLE, source, sink)
        return ExportedAdapter(target, size, _sha256(plain), len(tensors), True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
