"""Training pairs (stub → function) from a repository's own code, for LoRA fine-tuning.

`build_dataset` refreshes the repository's index as the hook does (`index_exclude`
honoured), cuts each kept function or method out of its file (dedented to column 0),
redacts secrets in it, cuts that back to a stub (decorators, signature, docstring,
`...`), deduplicates, splits by file and stores each split sealed.

Which functions become pairs; the others are counted by reason in `skipped`:

* `test-file`: in tests (`tests/`, `test/`, `test_*.py`, `*_test.py`, `conftest.py`);
* `stub`: still a stub (docstring and `...`): nothing to learn;
* `nested`: defined inside another function (its closure is not in the stub);
* `too-long`: over MAX_LINES lines or MAX_TOKENS estimated tokens, so that a pair
  (stub and function) fits a 2,048-token training sequence;
* `trivial-body`: the body, docstring aside, is only `pass`, `...` or
  `raise NotImplementedError`;
* `tiny-body`: no docstring and fewer than MIN_STATEMENTS statements, nested ones
  counted (`return self._x`: the stub holds nothing but a name). A documented
  function needs only one real statement: its docstring is the specification;
* `unreadable` / `unparsable`: the file changed since it was indexed or cannot be
  read; the function cut out (and redacted) does not parse on its own.

Split: by file, so no held-out function's file is trained on. A file is held out when
a hash of its path falls under `heldout_fraction` (deterministic, stable as the
repository grows); with two or more files, each side gets at least one. Duplicates
(same code, docstrings, comments and layout aside) keep one copy, in the held-out split
when there is one there.

Storage: `data_dir/datasets/<sha256 of the resolved root>[:16]/`: `manifest` (counts,
creation time, index, model, rules, each split's file and plaintext sha256) and one
JSON-lines file per split, `train-<build>.jsonl` and `heldout-<build>.jsonl` (a random
build id), each sealed with the user's data key (roles `dataset-manifest`,
`dataset-train`, `dataset-heldout`) and written atomically. The manifest is the commit
point: a build's split files are written first and the old ones removed once the new
manifest is in place, so an interrupted build leaves the previous dataset whole; a split
whose plaintext sha256 is not the manifest's is refused.
"""

from __future__ import annotations

import ast
import copy
import fcntl
import hashlib
import io
import json
import secrets
import time
import tokenize
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Union

from codegen_hook.atomic import write_atomic
from codegen_hook.config import Settings, data_dir
from codegen_hook.errors import (ConfigError, DatasetError, DecryptionError, SourceError)
from codegen_hook.index.build import RepoIndex, load_index, refresh_index
from codegen_hook.index.extract import file_hash
from codegen_hook.index.records import FileRecord, Symbol
from codegen_hook.index.search import estimate_tokens, is_test_path
from codegen_hook.security.codec import codec_for
from codegen_hook.security.crypto import EncryptedCodec
from codegen_hook.security.perms import private_folder
from codegen_hook.security.redact import redact_secrets
from codegen_hook.stubs import SourceFile, split_lines_keepends

__all__ = ["FORMAT", "MAX_LINES", "MAX_TOKENS", "MIN_STATEMENTS", "SPLITS", "DatasetSummary",
           "TrainingPair", "assign_splits", "build_dataset", "dataset_dir", "load_dataset",
           "load_manifest"]

FORMAT = "codegen-hook-dataset/1"
SPLITS = ("train", "heldout")
MIN_STATEMENTS = 2
MAX_LINES = 150
MAX_TOKENS = 1024
_MANIFEST = "manifest"
_Function = Union[ast.FunctionDef, ast.AsyncFunctionDef]
Progress = Callable[[str, int, int], None]   # (stage: "index" | "files", done, total)


@dataclass(frozen=True)
class TrainingPair:
    id: str         # sha256 hex of the normalised function source (the dedup key)
    path: str       # file relative to the repo root, with '/'
    qualname: str   # e.g. "parse" or "Parser.parse"
    stub: str       # decorators + signature + docstring + `...`, at column 0
    code: str       # the whole function at column 0, secrets redacted
    split: str      # "train" | "heldout"


@dataclass
class DatasetSummary:
    """What a build did. functions == kept + duplicates + sum(skipped.values())."""

    folder: Path
    root: str
    heldout_fraction: float
    files: int = 0          # Python files in the index
    functions: int = 0      # functions and methods seen
    kept: int = 0           # pairs stored (train + heldout)
    skipped: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    train: int = 0
    heldout: int = 0
    train_files: int = 0
    heldout_files: int = 0
    redactions: int = 0     # secrets replaced in the stored pairs
    created: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["folder"] = str(self.folder)
        data["skipped"] = dict(sorted(self.skipped.items()))
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass(frozen=True)
class _Cut:
    """A kept function before its split is known."""

    id: str
    path: str
    qualname: str
    stub: str
    code: str
    redactions: int


def dataset_dir(root: Path, settings: Settings) -> Path:
    """Where the dataset of the repository at `root` is stored (in the data dir)."""
    digest = hashlib.sha256(str(root.expanduser().resolve()).encode()).hexdigest()
    return data_dir(settings) / "datasets" / digest[:16]


def build_dataset(root: Path, settings: Settings, *, heldout_fraction: float = 0.1,
                  progress: Callable[..., None] | None = None) -> DatasetSummary:
    """Refresh the index of `root`, cut its functions into pairs, store them sealed.

    `progress(stage, done, total)` is called with stage "index" (files parsed) and
    "files" (files cut). Raises ConfigError for a fraction outside (0, 1), SourceError
    when `root` is not a folder, DatasetError when no function qualifies.
    """
    start = time.perf_counter()
    if not 0 < heldout_fraction < 1:
        raise ConfigError(f"held-out fraction {heldout_fraction}: use a number between 0 "
                          "and 1, e.g. --heldout 0.1")
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise SourceError(f"{root} is not a folder; pass the repository's folder")
    codec = codec_for(settings, data_dir(settings))
    report = refresh_index(root, exclude=settings.index_exclude,
                           max_file_bytes=settings.index_max_file_bytes, codec=codec,
                           progress=_stage(progress, "index"))
    index = load_index(root, codec=codec)
    summary = DatasetSummary(dataset_dir(root, settings), str(root), heldout_fraction,
                             files=len(index.records))
    cuts = _cut_repository(index, summary, _stage(progress, "files"))
    if not cuts:
        raise DatasetError(_nothing_kept(summary))
    sides = assign_splits((cut.path for cut in cuts), heldout_fraction)
    pairs = _deduplicated(cuts, sides, summary)
    summary.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    summary.seconds = time.perf_counter() - start
    manifest = {"format": FORMAT, "created": summary.created, "root": str(root),
                "heldout_fraction": heldout_fraction, "summary": summary.to_json(),
                "rules": {"min_statements": MIN_STATEMENTS, "max_lines": MAX_LINES,
                          "max_tokens": MAX_TOKENS},
                "index": {"store": report.store, "files": report.files,
                          "skipped": len(report.skipped), "git": report.git},
                "model": {"backend": settings.backend, "model": settings.model}}
    _store(summary.folder, codec, pairs, manifest)
    return summary


def load_manifest(root: Path, settings: Settings) -> dict[str, Any]:
    """The stored dataset's manifest: `summary`, `rules`, `index`, `model`, `splits`."""
    return _open_manifest(root, settings)[0]


def load_dataset(root: Path, settings: Settings, split: str) -> list[TrainingPair]:
    """The pairs of one split ("train" or "heldout"), decrypted and checked."""
    if split not in SPLITS:
        raise ConfigError(f"split {split!r}: use one of {', '.join(SPLITS)}")
    manifest, codec = _open_manifest(root, settings)
    folder = dataset_dir(root, settings)
    try:
        entry = manifest["splits"][split]
        payload = _open_sealed(codec, folder / entry["file"], f"dataset-{split}", root)
        if hashlib.sha256(payload).hexdigest() != entry["sha256"]:
            raise ValueError("its content is not the one the manifest names")
        return [TrainingPair(**json.loads(line)) for line in payload.decode().splitlines()]
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"the {split} split in {folder} is incomplete or not ours ({exc}); "
                           f"build the dataset again: `codegen-hook dataset build {root}`"
                           ) from exc


def assign_splits(paths: Iterable[str], fraction: float) -> dict[str, str]:
    """Each file's split: "heldout" when its path's hash is under `fraction`, else
    "train"; with two or more files, each side gets at least one."""
    scores = {path: _path_score(path) for path in set(paths)}
    sides = {path: "heldout" if score < fraction else "train" for path, score in scores.items()}
    if len(sides) >= 2 and "heldout" not in sides.values():
        sides[min(scores, key=scores.__getitem__)] = "heldout"
    if len(sides) >= 2 and "train" not in sides.values():
        sides[max(scores, key=scores.__getitem__)] = "train"
    return sides


def _path_score(path: str) -> float:
    digest = hashlib.sha256(f"codegen-hook-dataset:{path}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def _stage(progress: Callable[..., None] | None,
           stage: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    report = progress
    return lambda done, total: report(stage, done, total)


def _nothing_kept(summary: DatasetSummary) -> str:
    if not summary.functions:
        return (f"no Python functions found in {summary.root}; point PATH at a repository "
                "with Python code (and check index_exclude)")
    reasons = ", ".join(f"{n} {why}" for why, n in sorted(summary.skipped.items()))
    return (f"none of the {summary.functions} functions in {summary.root} makes a training "
            f"pair ({reasons}); pairs need functions outside tests with a docstring or "
            f"at least {MIN_STATEMENTS} statements")


# -- cutting functions out of their files -------------------------------------------

def _cut_repository(index: RepoIndex, summary: DatasetSummary,
                    progress: Callable[[int, int], None] | None) -> list[_Cut]:
    skipped: Counter[str] = Counter()
    cuts: list[_Cut] = []
    records = sorted(index.records, key=lambda r: r.path)
    for done, record in enumerate(records, 1):
        functions = [s for s in record.content.symbols if s.kind != "class"]
        summary.functions += len(functions)
        cuts += _cut_file(index.root, record, functions, skipped)
        if progress:
            progress(done, len(records))
    summary.skipped = dict(skipped)
    return cuts


def _cut_file(root: Path, record: FileRecord, functions: list[Symbol],
              skipped: Counter[str]) -> list[_Cut]:
    if is_test_path(record.path):
        skipped["test-file"] += len(functions)
        return []
    wanted = []
    for symbol in functions:
        reason = _index_reason(symbol)
        if reason:
            skipped[reason] += 1
        else:
            wanted.append(symbol)
    if not wanted:
        return []
    text = _read_indexed(root, record)
    if text is None:
        skipped["unreadable"] += len(wanted)
        return []
    nodes = _function_nodes(text)
    lines = split_lines_keepends(text)
    cuts = []
    for symbol in wanted:
        node = nodes.get((symbol.line_start, symbol.name))
        cut = _cut(lines, node, record.path, symbol.qualname) if node else "unparsable"
        if isinstance(cut, str):
            skipped[cut] += 1
        else:
            cuts.append(cut)
    return cuts


def _index_reason(symbol: Symbol) -> str | None:
    if symbol.is_stub:
        return "stub"
    if "<locals>" in symbol.qualname:
        return "nested"
    if symbol.line_end - symbol.line_start + 1 > MAX_LINES:
        return "too-long"
    return None


def _read_indexed(root: Path, record: FileRecord) -> str | None:
    """The file's text, if it still has the content the index holds."""
    try:
        source = SourceFile.read(root / record.path)
    except SourceError:
        return None
    return source.text if file_hash(source.raw) == record.content.hash else None


def _function_nodes(text: str) -> dict[tuple[int, str], _Function]:
    """Every function of the file by (first line, decorators included; name)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    return {(min([n.lineno] + [d.lineno for d in n.decorator_list]), n.name): n
            for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _cut(lines: list[str], node: _Function, path: str, qualname: str) -> _Cut | str:
    """The pair of one function, or the reason it is skipped."""
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    raw = _dedent(lines[start - 1:node.end_lineno or node.lineno], node.col_offset)
    if raw is None:
        return "unparsable"
    if estimate_tokens(raw) > MAX_TOKENS:
        return "too-long"
    redacted = redact_secrets(raw)
    try:
        tree = ast.parse(redacted.text)
    except (SyntaxError, ValueError):
        return "unparsable"
    function = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return "unparsable"
    reason = _body_reason(function)
    if reason:
        return reason
    stub = _stub(redacted.text, function)
    if stub is None:
        return "unparsable"
    return _Cut(_dedup_key(function), path, qualname, stub, redacted.text, redacted.count)


def _dedent(lines: list[str], column: int) -> str | None:
    """The lines moved `column` characters left, with `\\n` endings; lines of a
    multi-line string that start further left stay as they are."""
    indent = lines[0][:column] if lines else ""
    if not lines or indent.strip(" \t"):
        return None  # the def does not start its line
    out = [line[len(indent):] if line.startswith(indent) else line for line in lines]
    return "".join(line.rstrip("\r\n") + "\n" for line in out)


def _has_docstring(function: _Function) -> bool:
    return ast.get_docstring(function, clean=False) is not None


def _trivial(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return stmt.value.value is Ellipsis
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        raised = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"
    return False


def _body_reason(function: _Function) -> str | None:
    documented = _has_docstring(function)
    body = function.body[1:] if documented else function.body
    if all(_trivial(stmt) for stmt in body):
        return "trivial-body"
    statements = sum(isinstance(node, ast.stmt) for stmt in body for node in ast.walk(stmt))
    if not documented and statements < MIN_STATEMENTS:
        return "tiny-body"
    return None


def _dedup_key(function: _Function) -> str:
    """sha256 of the function as `ast.unparse` writes it, docstring left out: blind to
    comments, layout and quoting."""
    bare = copy.copy(function)
    if _has_docstring(function):
        bare.body = function.body[1:]
    return hashlib.sha256(ast.unparse(bare).encode()).hexdigest()


def _header_end(code: str, def_line: int) -> tuple[int, int] | None:
    """(line, column) of the colon that ends the signature starting on `def_line`."""
    depth, seen_def = 0, False
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.start[0] < def_line:
                continue
            if not seen_def:
                seen_def = token.type == tokenize.NAME and token.string == "def"
            elif token.type == tokenize.OP and token.string in ("(", "[", "{"):
                depth += 1
            elif token.type == tokenize.OP and token.string in (")", "]", "}"):
                depth -= 1
            elif token.type == tokenize.OP and token.string == ":" and depth == 0:
                return token.start
    except (tokenize.TokenError, SyntaxError):
        return None
    return None


def _stub(code: str, function: _Function) -> str | None:
    """`code` (one function at column 0) with its body replaced by `...`, the
    docstring kept; None if that does not parse."""
    end = _header_end(code, function.lineno)
    if end is None:
        return None
    lines = split_lines_keepends(code)
    header = "".join(lines[:end[0] - 1]) + lines[end[0] - 1][:end[1] + 1]
    first = function.body[0]
    line = lines[first.lineno - 1]
    indent = line[:len(line) - len(line.lstrip(" \t"))] if first.lineno > end[0] else ""
    indent = indent or "    "
    parts = [header, "\n"]
    if _has_docstring(function):
        parts += [indent, ast.get_source_segment(code, first) or '""', "\n"]
    stub = "".join(parts + [indent, "...\n"])
    try:
        ast.parse(stub)
    except SyntaxError:
        return None
    return stub


def _deduplicated(cuts: list[_Cut], sides: dict[str, str],
                  summary: DatasetSummary) -> list[TrainingPair]:
    """One pair per dedup key; the held-out split is served first, so a function in
    both loses its train copy. Fills the summary's counts."""
    seen: set[str] = set()
    pairs: list[TrainingPair] = []
    for split in ("heldout", "train"):
        for cut in cuts:
            if sides[cut.path] != split:
                continue
            if cut.id in seen:
                summary.duplicates += 1
                continue
            seen.add(cut.id)
            summary.redactions += cut.redactions
            pairs.append(TrainingPair(cut.id, cut.path, cut.qualname, cut.stub, cut.code,
                                      split))
    pairs.sort(key=lambda pair: (pair.split, pair.path))
    summary.kept = len(pairs)
    summary.train = sum(pair.split == "train" for pair in pairs)
    summary.heldout = summary.kept - summary.train
    summary.train_files = len({p.path for p in pairs if p.split == "train"})
    summary.heldout_files = len({p.path for p in pairs if p.split == "heldout"})
    return pairs


# -- sealed storage -----------------------------------------------------------------

@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One build of a repository's dataset at a time."""
    private_folder(folder.parent.parent)
    private_folder(folder.parent)
    private_folder(folder)
    with open(folder / "lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _store(folder: Path, codec: EncryptedCodec, pairs: list[TrainingPair],
           manifest: dict[str, Any]) -> None:
    with _locked(folder):
        for stray in folder.glob(".*.tmp-*"):
            stray.unlink(missing_ok=True)
        splits = {}
        build_id = secrets.token_hex(8)   # not a content hash: names say nothing of the code
        for split in SPLITS:
            payload = "".join(json.dumps(asdict(pair), ensure_ascii=False) + "\n"
                              for pair in pairs if pair.split == split).encode()
            digest = hashlib.sha256(payload).hexdigest()
            name = f"{split}-{build_id}.jsonl"
            write_atomic(folder / name, codec.seal(f"dataset-{split}", payload))
            splits[split] = {"file": name, "sha256": digest,
                             "pairs": sum(pair.split == split for pair in pairs)}
        document = json.dumps({**manifest, "splits": splits}, sort_keys=True).encode()
        write_atomic(folder / _MANIFEST, codec.seal("dataset-manifest", document))
        named = {entry["file"] for entry in splits.values()}
        for old in folder.glob("*.jsonl"):
            if old.name not in named:
                old.unlink(missing_ok=True)


def _open_manifest(root: Path, settings: Settings) -> tuple[dict[str, Any], EncryptedCodec]:
    folder = dataset_dir(root, settings)
    if not (folder / _MANIFEST).is_file():
        raise DatasetError(f"no dataset of {root} yet (nothing in {folder}); build it: "
                           f"`codegen-hook dataset build {root}`")
    codec = codec_for(settings, data_dir(settings), create=False)
    payload = _open_sealed(codec, folder / _MANIFEST, "dataset-manifest", root)
    try:
        manifest = json.loads(payload)
        if manifest.get("format") != FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT}")
    except (ValueError, AttributeError) as exc:
        raise DatasetError(f"the dataset manifest in {folder} cannot be read ({exc}); build "
                           f"the dataset again: `codegen-hook dataset build {root}`") from exc
    return manifest, codec


def _open_sealed(codec: EncryptedCodec, path: Path, role: str, root: Path) -> bytes:
    try:
        return codec.open(role, path.read_bytes())
    except FileNotFoundError as exc:
        raise DatasetError(f"{path} is missing: the dataset is incomplete; build it again: "
                           f"`codegen-hook dataset build {root}`") from exc
    except OSError as exc:
        raise DatasetError(f"cannot read {path} ({exc.strerror or exc}); check its "
                           "permissions") from exc
    except DecryptionError as exc:
        raise DecryptionError(f"{path}: {exc}; a dataset can also be built again: "
                              f"`codegen-hook dataset build {root}`") from exc
