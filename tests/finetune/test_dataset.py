"""Training pairs from a real (tiny) repository: cut, filtered, split by file,
deduplicated, redacted and sealed."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from codegen_hook.atomic import write_atomic
from codegen_hook.config import Settings, data_dir, resolve_settings
from codegen_hook.errors import (ConfigError, DatasetError, DecryptionError,
                                 KeyUnavailableError, SourceError)
from codegen_hook.finetune import dataset as dataset_module
from codegen_hook.finetune.dataset import (MAX_LINES, DatasetSummary, TrainingPair,
                                           assign_splits, build_dataset, dataset_dir,
                                           load_dataset, load_manifest)
from codegen_hook.security.codec import codec_for
from codegen_hook.stubs import find_stubs

AWS_KEY = "AKIA" + "QX7ZB2LMN4PR8TUV"   # made up; split so no scanner flags this file
PASSWORD = "hunter2-Blue!"

TEXT = '''"""Text helpers."""
import re


def slugify(title: str) -> str:
    """Turn a title into a URL slug."""
    return "-".join(title.lower().split())


def count_words(text):
    words = text.split()
    return len(words)


def tiny(x):
    return x + 1


def todo(x: int) -> int:
    """Not written yet."""
    ...


def abstract(x):
    raise NotImplementedError("subclasses do this")


def outer(values):
    """Sum the doubled values."""
    def double(v):
        result = v * 2
        return result
    return sum(double(v) for v in values)


def apply(items: list[int],
          key=lambda v: v,
          extra: dict[str, int] = {"a": 1}) -> int:  # a signature on three lines
    """Apply `key` to every item and add them up.

    >>> apply([1, 2])
    3
    """
    total = 0
    for item in items:
        total += key(item)
    return total


class Parser:
    """Split text into tokens."""

    @staticmethod
    def parse(text: str) -> list[str]:
        """Split `text` on whitespace and commas."""
        return [t for t in re.split(r"[\\s,]+", text) if t]

    @property
    def name(self):
        return "parser"
'''

SECRETS = f'''import urllib.request


def connect(host: str) -> object:
    """Open the admin connection."""
    password = "{PASSWORD}"
    aws_key = "{AWS_KEY}"
    return urllib.request.urlopen(f"https://{{host}}/?k={{aws_key}}&p={{password}}")
'''

LONG = "def long():\n    total = 0\n" + "    total += 1\n" * MAX_LINES + "    return total\n"

TESTS = '''from pkg.text import slugify


def test_slugify():
    assert slugify("A b") == "a-b"
    assert slugify("") == ""
'''


def module(number: int) -> str:
    return (f"def helper_{number}(values: list[int]) -> int:\n"
            f"    \"\"\"Add {number} to the largest value.\"\"\"\n"
            f"    return max(values) + {number}\n")


def make_repo(root: Path, files: dict[str, str] | None = None) -> Path:
    """A folder of Python files (no git: the index walks plain folders too)."""
    contents = files if files is not None else {
        "pkg/__init__.py": "", "pkg/text.py": TEXT, "pkg/secrets.py": SECRETS,
        "pkg/long.py": LONG, "tests/test_text.py": TESTS, "conftest.py": TESTS,
        **{f"pkg/mod{i}.py": module(i) for i in range(8)}}
    for rel, text in contents.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def settings(repo: Path) -> Settings:
    return resolve_settings(repo)


@pytest.fixture
def built(repo: Path, settings: Settings) -> DatasetSummary:
    return build_dataset(repo, settings, heldout_fraction=0.3)


def all_pairs(repo: Path, settings: Settings) -> list[TrainingPair]:
    return load_dataset(repo, settings, "train") + load_dataset(repo, settings, "heldout")


def by_name(pairs: list[TrainingPair]) -> dict[str, TrainingPair]:
    return {pair.qualname: pair for pair in pairs}


def test_counts_add_up_and_each_skip_has_its_reason(built: DatasetSummary) -> None:
    assert built.functions == built.kept + built.duplicates + sum(built.skipped.values())
    assert built.skipped == {"test-file": 2, "stub": 1, "trivial-body": 1, "tiny-body": 2,
                             "nested": 1, "too-long": 1}
    assert built.kept == built.train + built.heldout == 14
    assert built.files == 14 and built.duplicates == 0
    assert built.folder.parent == data_dir(resolve_settings(Path(built.root))) / "datasets"


def test_pairs_are_the_function_and_its_stub_at_column_0(repo: Path, settings: Settings,
                                                         built: DatasetSummary) -> None:
    pairs = by_name(all_pairs(repo, settings))
    assert set(pairs) == {"slugify", "count_words", "outer", "apply", "Parser.parse",
                          "connect", *(f"helper_{i}" for i in range(8))}
    parse = pairs["Parser.parse"]
    assert parse.path == "pkg/text.py"
    assert parse.stub == ('@staticmethod\ndef parse(text: str) -> list[str]:\n'
                          '    """Split `text` on whitespace and commas."""\n    ...\n')
    assert parse.code.startswith('@staticmethod\ndef parse(text: str) -> list[str]:\n')
    assert "re.split" in parse.code and "re.split" not in parse.stub
    apply = pairs["apply"]
    assert apply.stub.startswith("def apply(items: list[int],\n          key=lambda v: v,\n")
    assert apply.stub.endswith('    3\n    """\n    ...\n') and "total" not in apply.stub
    assert pairs["count_words"].stub == "def count_words(text):\n    ...\n"
    assert len({pair.id for pair in pairs.values()}) == len(pairs)
    for pair in pairs.values():
        ast.parse(pair.code)
        assert len(pair.id) == 64 and int(pair.id, 16) >= 0
        if '"""' in pair.stub:  # what the hook would fill
            assert [s.name for s in find_stubs(pair.stub).stubs] == [pair.qualname.split(".")[-1]]


def test_split_is_by_file_and_deterministic(repo: Path, settings: Settings,
                                            built: DatasetSummary) -> None:
    train = load_dataset(repo, settings, "train")
    heldout = load_dataset(repo, settings, "heldout")
    assert train and heldout and {p.split for p in train} == {"train"}
    assert {p.split for p in heldout} == {"heldout"}
    assert not {p.path for p in train} & {p.path for p in heldout}
    paths = {p.path for p in train + heldout}
    assert {p.path for p in heldout} == {path for path, side in
                                         assign_splits(paths, 0.3).items() if side == "heldout"}
    assert built.train_files == len({p.path for p in train})
    assert built.heldout_files == len({p.path for p in heldout})
    again = build_dataset(repo, settings, heldout_fraction=0.3)
    assert load_dataset(repo, settings, "heldout") == heldout and again.heldout == built.heldout


def test_assign_splits_gives_each_side_a_file() -> None:
    paths = [f"m{i}.py" for i in range(200)]
    sides = assign_splits(paths, 0.1)
    assert 5 < list(sides.values()).count("heldout") < 40   # about a tenth
    assert set(assign_splits(["a.py", "b.py"], 0.01).values()) == {"train", "heldout"}
    assert set(assign_splits(["a.py", "b.py"], 0.99).values()) == {"train", "heldout"}
    assert assign_splits(["a.py"], 0.01) == {"a.py": "train"}
    assert assign_splits(paths, 0.1) == sides


def test_duplicates_keep_one_copy_in_heldout(tmp_path: Path) -> None:
    same = ("def mean(values):\n    total = sum(values)\n    return total / len(values)\n")
    spaced = ("def mean( values ):   # the same code, other layout\n\n"
              "    total = sum( values )\n    return (total / len(values))\n")
    repo = make_repo(tmp_path / "dups", {"a.py": same + "\n\n" + module(1),
                                         "b.py": spaced + "\n\n" + module(2)})
    settings = resolve_settings(repo)
    summary = build_dataset(repo, settings)
    train = load_dataset(repo, settings, "train")
    heldout = load_dataset(repo, settings, "heldout")
    assert summary.duplicates == 1 and summary.kept == 3
    assert [p.qualname for p in heldout].count("mean") == 1
    assert "mean" not in [p.qualname for p in train]


def test_secrets_are_redacted_before_storing(repo: Path, settings: Settings,
                                             built: DatasetSummary) -> None:
    connect = by_name(all_pairs(repo, settings))["connect"]
    assert PASSWORD not in connect.code and AWS_KEY not in connect.code
    assert "<redacted:password:1>" in connect.code
    assert "<redacted:aws-access-key:1>" in connect.code
    assert built.redactions == 2


def test_everything_on_disk_is_sealed(repo: Path, settings: Settings,
                                      built: DatasetSummary) -> None:
    files = [p for p in built.folder.iterdir() if p.name != "lock"]
    assert sorted(p.name.split("-")[0] for p in files) == ["heldout", "manifest", "train"]
    for path in files:
        data = path.read_bytes()
        assert data.startswith(b"CGHE")
        for plain in (b"slugify", b"def ", PASSWORD.encode(), b"pkg/text.py", b"helper_"):
            assert plain not in data
        assert path.stat().st_mode & 0o777 == 0o600
    assert built.folder.stat().st_mode & 0o777 == 0o700
    assert load_manifest(repo, settings)["summary"]["kept"] == built.kept


def test_tampered_files_do_not_open(repo: Path, settings: Settings,
                                    built: DatasetSummary) -> None:
    manifest = load_manifest(repo, settings)
    train = built.folder / manifest["splits"]["train"]["file"]
    heldout = built.folder / manifest["splits"]["heldout"]["file"]
    original = train.read_bytes()
    train.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(DecryptionError, match="altered or truncated.*dataset build"):
        load_dataset(repo, settings, "train")
    train.write_bytes(heldout.read_bytes())  # moved in from the other split
    with pytest.raises(DecryptionError, match="dataset-heldout, not a dataset-train"):
        load_dataset(repo, settings, "train")
    train.unlink()
    with pytest.raises(DatasetError, match="incomplete.*dataset build"):
        load_dataset(repo, settings, "train")
    (built.folder / "manifest").write_bytes(b"{}")
    with pytest.raises(DecryptionError, match="not a codegen-hook encrypted file"):
        load_dataset(repo, settings, "heldout")


def test_wrong_key_does_not_open(repo: Path, settings: Settings, built: DatasetSummary,
                                 tmp_path: Path) -> None:
    other = resolve_settings(repo, env={"CODEGEN_HOOK_DATA_DIR": str(tmp_path / "other"),
                                        "CODEGEN_HOOK_KEY_FILE": str(tmp_path / "other-key")})
    codec_for(other, data_dir(other))  # a key ring of its own
    shutil.copytree(built.folder, dataset_dir(repo, other))
    with pytest.raises(DecryptionError, match="does not hold.*key import"):
        load_dataset(repo, other, "train")


def test_no_key_is_a_clear_error(repo: Path, settings: Settings, built: DatasetSummary,
                                 isolated_home: Path) -> None:
    key_file = isolated_home.parent / "xdg_config_home" / "codegen-hook" / "key"
    assert key_file.is_file()
    key_file.unlink()
    with pytest.raises(KeyUnavailableError):
        load_dataset(repo, settings, "train")


def test_an_interrupted_build_keeps_the_previous_dataset(
        repo: Path, settings: Settings, built: DatasetSummary,
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = load_dataset(repo, settings, "train")
    (repo / "pkg" / "extra.py").write_text(module(99))

    def crash_on_manifest(path: Path, data: bytes, durable: bool = True) -> None:
        if path.name == "manifest":
            raise OSError("disk full")
        write_atomic(path, data, durable)

    monkeypatch.setattr(dataset_module, "write_atomic", crash_on_manifest)
    with pytest.raises(OSError):
        build_dataset(repo, settings, heldout_fraction=0.3)
    assert load_dataset(repo, settings, "train") == before
    monkeypatch.setattr(dataset_module, "write_atomic", write_atomic)
    after = build_dataset(repo, settings, heldout_fraction=0.3)
    assert after.kept == built.kept + 1
    assert len(list(after.folder.glob("*.jsonl"))) == 2   # the orphans went
    assert not list(after.folder.glob(".*"))


def test_bad_input_says_what_to_do(tmp_path: Path, repo: Path, settings: Settings) -> None:
    for fraction in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ConfigError, match="between 0 and 1"):
            build_dataset(repo, settings, heldout_fraction=fraction)
    with pytest.raises(SourceError, match="not a folder"):
        build_dataset(repo / "pkg" / "text.py", settings)
    with pytest.raises(DatasetError, match="dataset build"):
        load_dataset(repo, settings, "train")
    with pytest.raises(ConfigError, match="train, heldout"):
        load_dataset(repo, settings, "dev")
    empty = make_repo(tmp_path / "empty", {"README.txt": "no code\n"})
    with pytest.raises(DatasetError, match="no Python functions"):
        build_dataset(empty, resolve_settings(empty))
    only_tests = make_repo(tmp_path / "tests-only", {"test_a.py": TESTS, "b.py": "x = 1\n"})
    with pytest.raises(DatasetError, match="none of the 1 functions.*1 test-file"):
        build_dataset(only_tests, resolve_settings(only_tests))


def test_index_exclude_is_honoured(repo: Path) -> None:
    settings = resolve_settings(repo, env={"CODEGEN_HOOK_INDEX_EXCLUDE": "pkg/mod*"})
    summary = build_dataset(repo, settings)
    pairs = all_pairs(repo, settings)
    assert summary.files == 6 and not [p for p in pairs if p.path.startswith("pkg/mod")]
