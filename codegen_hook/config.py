"""Settings, resolved in one place: defaults < file < environment < flags."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from codegen_hook.errors import ConfigError
from codegen_hook.models import DEFAULT_MODEL
from codegen_hook.registry import BACKENDS, SANDBOXES

RANKINGS = ("agreement", "first", "clustered")   # pipeline/select.py's Method

__all__ = ["ENV_PREFIX", "Settings", "data_dir", "find_config_root", "resolve_settings"]

ENV_PREFIX = "CODEGEN_HOOK_"
# Settings a repository's own config file may not turn on: a cloned repo must not
# be able to switch the sandbox off for whoever commits in it (or name a module to import,
# or a program to run).
_NOT_FROM_FILE = {"unsafe_no_sandbox", "allow_remote_hosts", "key_file", "ca_bundle",
                  "client_cert", "client_key", "langchain_model", "pyre_command"}


@dataclass(frozen=True)
class Settings:
    """Every setting, with its default. Field names are the config keys."""

    backend: str = "llama-cpp"            # llama-cpp | openai | langchain
    model: str = DEFAULT_MODEL            # a known model's name or a path to a .gguf
    # A LoRA adapter for the llama-cpp model (GGUF, or sealed by `codegen-hook finetune`);
    # like `model`, a repository's config file may name one.
    lora_path: str = ""                   # empty: no adapter
    lora_scale: float = 1.0               # multiplies the adapter's alpha / rank
    openai_base_url: str = "http://127.0.0.1:11434/v1"
    openai_model: str = "qwen2.5-coder:0.5b"
    openai_api_key_env: str = "OPENAI_API_KEY"
    openai_flavor: str = "auto"           # auto | openai | ollama | vllm | llama-cpp-server
    openai_parallel: int = 0              # concurrent requests when the server lacks `n`; 0: auto
    langchain_model: str = ""             # "package.module:factory" returning a chat model
    allow_remote_hosts: tuple[str, ...] = ()
    ca_bundle: str = ""                   # PEM file of CAs to trust for https (default: system)
    client_cert: str = ""                 # PEM client certificate for https (mutual TLS)
    client_key: str = ""                  # its private key, if not inside client_cert
    n_ctx: int = 4096
    n_threads: int = 0                    # 0: one per core
    max_tokens: int = 512
    temperature: float = 0.0
    seed: int = 0
    candidates: int = 8                   # first round: one greedy, the rest sampled, one batch
    sample_temperature: float = 0.8
    max_rounds: int = 3                   # first round plus repairs
    resample: int = 4                     # later rounds: fresh samples of the first prompt too
    alternatives: int = 0                 # later rounds: "write it another way" texts when the
    #                                       passing programs are too few to agree (opt-in: on
    #                                       the realistic set they verified one wrong body more)
    generated_tests: bool = True          # ask the model for assert tests of the spec
    max_generated_tests: int = 10
    probe_tests: int = 8                  # inputs varied from the tests': outputs must agree
    answer_prefix: bool = True            # start the answer with the stub's own lines
    ranking: str = "agreement"            # agreement (CodeT dual agreement) | first | clustered
    verify_agreement: int = 2             # candidates computing the same on every test, to verify
    distinct_agreement: bool = True       # agreement counts distinct programs, not copies
    verify_veto: bool = True              # trusted model tests / probes can stop `verified`
    verify_min_examples: int = 1          # the user's examples verified needs (no repo tests)
    repair_budget_tokens: int = 2048      # completion tokens all repairs of one stub may use
    repair_budget_seconds: float = 120.0  # wall seconds after which no repair starts
    checks: tuple[str, ...] = ("flake8", "mypy", "style", "security")   # + "pyre" (opt-in)
    pyre_command: str = ""                # the `pyre` of the "pyre" check; "": beside us / PATH
    style: str = "report"                 # report | enforce (style findings block)
    index: bool = True                    # refresh the repo index before filling
    context_tokens: int = 400             # retrieved repo code in the prompt; 0: none
    index_exclude: tuple[str, ...] = ()   # fnmatch patterns, relative to the repo root
    index_max_file_bytes: int = 1_000_000
    on_failure: str = "block"             # block | warn
    write_unverified: bool = False
    sandbox: str = "auto"                 # auto | docker | bwrap
    docker_image: str = "codegen-hook-sandbox:1"
    sandbox_uid: int = 61000              # used when the hook runs as root
    sandbox_python: str = ""              # empty: find one the sandbox user can read
    timeout: float = 10.0                 # seconds per sandbox run
    # the project's environment, bound read-only ("": found); not `venv` / `python`:
    # CODEGEN_HOOK_VENV and CODEGEN_HOOK_PYTHON are the CI templates' own variables
    project_venv: str = ""                # --venv
    project_python: str = ""              # --python: its venv is used
    repo_tests: bool = True               # the repository's tests of a stub are evidence
    write_tests: bool = False             # keep the tests that proved a body as a pytest file
    tests_path: str = "tests/test_{module}_codegen.py"   # where (relative to the root)
    memory_mb: int = 512
    unsafe_no_sandbox: bool = False
    data_dir: str = ""                    # empty: $XDG_DATA_HOME/codegen-hook
    key_file: str = ""                    # empty: $XDG_CONFIG_HOME/codegen-hook/key
    audit: bool = True                    # one hash-chained, encrypted entry per stub

    def validated(self) -> "Settings":
        choices = {"backend": BACKENDS.names(), "on_failure": ("block", "warn"),
                   "sandbox": ("auto", *SANDBOXES.names()), "style": ("report", "enforce"),
                   "ranking": RANKINGS,
                   "openai_flavor": ("auto", "openai", "ollama", "vllm", "llama-cpp-server")}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"setting {key} = {getattr(self, key)!r}: use one of "
                                  f"{', '.join(allowed)}")
        for key in ("n_ctx", "max_tokens", "max_rounds", "memory_mb", "candidates",
                    "index_max_file_bytes", "verify_agreement", "verify_min_examples"):
            if getattr(self, key) < 1:
                raise ConfigError(f"setting {key} must be at least 1")
        for key in ("max_generated_tests", "probe_tests", "repair_budget_tokens", "resample",
                    "alternatives",
                    "repair_budget_seconds", "openai_parallel"):
            if getattr(self, key) < 0:
                raise ConfigError(f"setting {key} must be 0 or more")
        if self.context_tokens < 0:
            raise ConfigError("setting context_tokens must be 0 (no retrieval) or more")
        if self.timeout <= 0:
            raise ConfigError("setting timeout must be a positive number of seconds")
        return self


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if not f.name.startswith("_")}


def _coerce(key: str, value: Any, source: str) -> Any:
    """Turn a value from a file, the environment or a flag into the field's type."""
    kind = _FIELDS[key].type
    try:
        if kind == "bool":
            if isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind in ("int", "float"):
            if isinstance(value, bool) or (kind == "int" and isinstance(value, float)):
                raise ValueError(value)
            return int(value) if kind == "int" else float(value)
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(item).strip() for item in items if str(item).strip())
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {key} = {value!r} is not a valid {kind}; "
                          "fix the value") from exc


def _normalise(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    out = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(f"{source}: unknown setting {key!r}; known settings: "
                              f"{', '.join(sorted(_FIELDS))}")
        out[name] = _coerce(name, value, source)
    return out


def find_config_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding a config file or `.git`."""
    start = start.resolve()
    for folder in (start, *start.parents):
        markers = (".codegen-hook.yaml", "pyproject.toml", ".git")
        if any((folder / name).exists() for name in markers):
            return folder
    return start


def _read_file_settings(root: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    yaml_path = root / ".codegen-hook.yaml"
    toml_path = root / "pyproject.toml"
    if toml_path.is_file():
        try:
            table = tomllib.loads(toml_path.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{toml_path}: not valid TOML ({exc}); fix it") from exc
        section = table.get("tool", {}).get("codegen-hook")
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"{toml_path}: [tool.codegen-hook] must be a table of settings")
        if section is not None:
            found = _normalise(section, f"{toml_path} [tool.codegen-hook]")
    if yaml_path.is_file():
        if found:
            raise ConfigError(f"settings in both {yaml_path} and {toml_path} "
                              "[tool.codegen-hook]; keep one of them")
        try:
            loaded = yaml.safe_load(yaml_path.read_text("utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{yaml_path}: not valid YAML ({exc}); fix it") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{yaml_path}: expected a mapping of settings")
        found = _normalise(loaded, str(yaml_path))
    for key in _NOT_FROM_FILE & found.keys():
        raise ConfigError(f"{key} cannot be set in a repository's config file; pass it as "
                          f"a flag or set {ENV_PREFIX}{key.upper()}")
    return found


def resolve_settings(root: Path, env: Mapping[str, str] | None = None,
                     flags: Mapping[str, Any] | None = None) -> Settings:
    """Resolve settings in this order, later winning:

    1. the defaults on `Settings`;
    2. `.codegen-hook.yaml` or `[tool.codegen-hook]` in `pyproject.toml` at `root`;
    3. environment variables `CODEGEN_HOOK_<KEY>` (e.g. CODEGEN_HOOK_MAX_ROUNDS=2);
    4. command-line flags (None means "not given").
    """
    env = os.environ if env is None else env
    values = _read_file_settings(root)
    from_env = {key[len(ENV_PREFIX):].lower(): value for key, value in env.items()
                if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX):].lower() in _FIELDS}
    values.update(_normalise(from_env, "environment"))
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    values.update(_normalise(given, "command line"))
    return Settings(**values).validated()


def data_dir(settings: Settings, env: Mapping[str, str] | None = None) -> Path:
    """Where models and caches live: the setting, else $XDG_DATA_HOME/codegen-hook."""
    env = os.environ if env is None else env
    if settings.data_dir:
        return Path(settings.data_dir).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "codegen-hook"
