"""Settings: defaults < repository file < environment < flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codegen_hook.config import Settings, data_dir, find_config_root, resolve_settings
from codegen_hook.errors import ConfigError
from codegen_hook.models import DEFAULT_MODEL


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    return path


def _pyproject(repo: Path, body: str) -> None:
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.codegen-hook]\n' + body, "utf-8")


def _yaml(repo: Path, body: str) -> None:
    (repo / ".codegen-hook.yaml").write_text(body, "utf-8")


def test_defaults(repo: Path) -> None:
    settings = resolve_settings(repo, env={})
    assert settings == Settings()
    assert settings.backend == "llama-cpp"
    assert settings.model == DEFAULT_MODEL
    assert settings.max_rounds == 3
    assert settings.checks == ("flake8", "mypy", "style", "security")
    assert settings.on_failure == "block"
    assert settings.unsafe_no_sandbox is False
    assert settings.allow_remote_hosts == ()


def test_pyproject_without_our_section_gives_defaults(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.black]\nline = 1\n')
    assert resolve_settings(repo, env={}) == Settings()


def test_pyproject_dash_and_underscore_keys(repo: Path) -> None:
    _pyproject(repo, 'max-rounds = 2\nmax_tokens = 256\non-failure = "warn"\n'
                     'checks = ["flake8"]\nwrite-unverified = true\ntimeout = 2.5\n')
    settings = resolve_settings(repo, env={})
    assert settings.max_rounds == 2
    assert settings.max_tokens == 256
    assert settings.on_failure == "warn"
    assert settings.checks == ("flake8",)
    assert settings.write_unverified is True
    assert settings.timeout == 2.5
    assert settings.n_ctx == Settings().n_ctx


def test_yaml_file(repo: Path) -> None:
    _yaml(repo, "backend: openai\nopenai-model: tiny\ncandidates: 5\n"
                "checks: [mypy, flake8]\ntemperature: 0.3\n")
    settings = resolve_settings(repo, env={})
    assert settings.backend == "openai"
    assert settings.openai_model == "tiny"
    assert settings.candidates == 5
    assert settings.checks == ("mypy", "flake8")
    assert settings.temperature == 0.3


def test_empty_yaml_gives_defaults(repo: Path) -> None:
    _yaml(repo, "# nothing set\n")
    assert resolve_settings(repo, env={}) == Settings()


def test_yaml_not_a_mapping(repo: Path) -> None:
    _yaml(repo, "- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        resolve_settings(repo, env={})


def test_invalid_yaml_and_toml(repo: Path) -> None:
    _yaml(repo, "max_rounds: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve_settings(repo, env={})
    (repo / ".codegen-hook.yaml").unlink()
    (repo / "pyproject.toml").write_text("[tool.codegen-hook\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_settings(repo, env={})


def test_both_files_is_an_error(repo: Path) -> None:
    _pyproject(repo, "max-rounds = 2\n")
    _yaml(repo, "max_rounds: 4\n")
    with pytest.raises(ConfigError, match="keep one of them"):
        resolve_settings(repo, env={})


@pytest.mark.parametrize("write", [
    lambda r: _pyproject(r, "max-rouns = 2\n"),
    lambda r: _yaml(r, "max-rouns: 2\n"),
])
def test_unknown_key_is_named(repo: Path, write: Any) -> None:
    write(repo)
    with pytest.raises(ConfigError, match="unknown setting 'max-rouns'"):
        resolve_settings(repo, env={})


def test_unknown_flag_is_an_error(repo: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        resolve_settings(repo, env={}, flags={"colour": "red"})


def test_unknown_environment_variable_is_ignored(repo: Path) -> None:
    settings = resolve_settings(repo, env={"CODEGEN_HOOK_COLOUR": "red", "MAX_ROUNDS": "9"})
    assert settings == Settings()


@pytest.mark.parametrize("body", [
    'max-rounds = "three"\n',
    'timeout = "soon"\n',
    'write-unverified = "maybe"\n',
    "checks = 5\n",
    "n_ctx = [1, 2]\n",
])
def test_bad_type_in_file(repo: Path, body: str) -> None:
    _pyproject(repo, body)
    key = body.split(" ")[0]
    with pytest.raises(ConfigError, match="is not a valid") as info:
        resolve_settings(repo, env={})
    assert key.replace("-", "_") in str(info.value)
    assert "pyproject.toml" in str(info.value)


@pytest.mark.parametrize("value", ["2.7", "true"])
def test_non_integer_for_int_setting_is_an_error(repo: Path, value: str) -> None:
    _pyproject(repo, f"max-rounds = {value}\n")
    with pytest.raises(ConfigError):
        resolve_settings(repo, env={})


def test_pyproject_section_not_a_table(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[tool]\ncodegen-hook = "fast"\n')
    with pytest.raises(ConfigError):
        resolve_settings(repo, env={})


def test_bad_type_in_environment_and_flags(repo: Path) -> None:
    with pytest.raises(ConfigError, match="environment: max_rounds"):
        resolve_settings(repo, env={"CODEGEN_HOOK_MAX_ROUNDS": "lots"})
    with pytest.raises(ConfigError, match="command line: timeout"):
        resolve_settings(repo, env={}, flags={"timeout": "later"})


def test_precedence_defaults_file_env_flags(repo: Path) -> None:
    _pyproject(repo, 'max-rounds = 2\ncandidates = 4\nseed = 7\non-failure = "warn"\n')
    env = {"CODEGEN_HOOK_MAX_ROUNDS": "5", "CODEGEN_HOOK_CANDIDATES": "6"}
    flags: dict[str, Any] = {"max_rounds": 9, "candidates": None, "memory-mb": 64}
    settings = resolve_settings(repo, env=env, flags=flags)
    assert settings.max_rounds == 9            # flag beats env beats file
    assert settings.candidates == 6            # None flag ignored: env wins
    assert settings.seed == 7                  # file beats default
    assert settings.on_failure == "warn"       # file
    assert settings.memory_mb == 64            # dashed flag name
    assert settings.n_ctx == 4096              # default

    assert resolve_settings(repo, env=env).max_rounds == 5
    assert resolve_settings(repo, env={}).max_rounds == 2


def test_real_environment_is_read_when_env_not_given(repo: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEGEN_HOOK_MAX_ROUNDS", "7")
    assert resolve_settings(repo).max_rounds == 7
    assert resolve_settings(repo, env={}).max_rounds == 3


@pytest.mark.parametrize("key", ["unsafe_no_sandbox", "unsafe-no-sandbox",
                                 "allow_remote_hosts", "allow-remote-hosts", "pyre-command"])
@pytest.mark.parametrize("kind", ["toml", "yaml"])
def test_sandbox_escapes_refused_from_repo_file(repo: Path, key: str, kind: str) -> None:
    value = "true" if "sandbox" in key else '"./run-me.sh"' if "pyre" in key else \
        '["example.com"]'
    if kind == "toml":
        _pyproject(repo, f"{key} = {value}\n")
    else:
        _yaml(repo, f"{key}: {value}\n")
    with pytest.raises(ConfigError, match="cannot be set in a repository's config file"):
        resolve_settings(repo, env={})


def test_sandbox_escapes_allowed_from_env_and_flags(repo: Path) -> None:
    env = {"CODEGEN_HOOK_UNSAFE_NO_SANDBOX": "1",
           "CODEGEN_HOOK_ALLOW_REMOTE_HOSTS": "a.example, b.example"}
    settings = resolve_settings(repo, env=env)
    assert settings.unsafe_no_sandbox is True
    assert settings.allow_remote_hosts == ("a.example", "b.example")
    flagged = resolve_settings(repo, env={}, flags={"unsafe_no_sandbox": True,
                                                    "allow_remote_hosts": ["c.example"]})
    assert flagged.unsafe_no_sandbox is True
    assert flagged.allow_remote_hosts == ("c.example",)


@pytest.mark.parametrize("source", ["file", "env", "flag"])
def test_invalid_choice(repo: Path, source: str) -> None:
    env: dict[str, str] = {}
    flags: dict[str, Any] = {}
    if source == "file":
        _yaml(repo, "on_failure: maybe\n")
    elif source == "env":
        env["CODEGEN_HOOK_ON_FAILURE"] = "maybe"
    else:
        flags["on_failure"] = "maybe"
    with pytest.raises(ConfigError, match=r"on_failure = 'maybe': use one of block, warn"):
        resolve_settings(repo, env=env, flags=flags)


@pytest.mark.parametrize("key, value, message", [
    ("backend", "gpt", "use one of"),
    ("sandbox", "podman", "use one of"),
    ("max_rounds", 0, "at least 1"),
    ("candidates", -1, "at least 1"),
    ("resample", -1, "0 or more"),
    ("timeout", 0, "positive"),
])
def test_validation(repo: Path, key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_settings(repo, env={}, flags={key: value})


@pytest.mark.parametrize("raw, expected", [
    ("1", True), ("true", True), ("TRUE", True), ("yes", True), ("On", True),
    ("0", False), ("false", False), ("No", False), ("off", False),
])
def test_bool_from_env_string(repo: Path, raw: str, expected: bool) -> None:
    settings = resolve_settings(repo, env={"CODEGEN_HOOK_WRITE_UNVERIFIED": raw})
    assert settings.write_unverified is expected


@pytest.mark.parametrize("raw", ["maybe", "", "2", "y"])
def test_bad_bool_from_env_string(repo: Path, raw: str) -> None:
    with pytest.raises(ConfigError, match="write_unverified"):
        resolve_settings(repo, env={"CODEGEN_HOOK_WRITE_UNVERIFIED": raw})


@pytest.mark.parametrize("raw, expected", [
    ("flake8,mypy", ("flake8", "mypy")),
    (" flake8 , mypy ,", ("flake8", "mypy")),
    ("mypy", ("mypy",)),
    ("", ()),
    (",,", ()),
])
def test_tuple_from_comma_string(repo: Path, raw: str, expected: tuple[str, ...]) -> None:
    assert resolve_settings(repo, env={"CODEGEN_HOOK_CHECKS": raw}).checks == expected


def test_numbers_from_env_strings(repo: Path) -> None:
    settings = resolve_settings(repo, env={"CODEGEN_HOOK_TIMEOUT": "1.5",
                                           "CODEGEN_HOOK_N_CTX": "2048",
                                           "CODEGEN_HOOK_MODEL": "/m/x.gguf"})
    assert settings.timeout == 1.5
    assert settings.n_ctx == 2048
    assert settings.model == "/m/x.gguf"


def test_data_dir_from_setting(repo: Path, tmp_path: Path) -> None:
    assert data_dir(Settings(data_dir=str(tmp_path / "d")), env={}) == tmp_path / "d"
    assert data_dir(Settings(data_dir="~/models"), env={}) == Path.home() / "models"


def test_data_dir_from_xdg_then_home(tmp_path: Path) -> None:
    assert data_dir(Settings(), env={"XDG_DATA_HOME": str(tmp_path / "x")}) == (
        tmp_path / "x" / "codegen-hook")
    expected = Path.home() / ".local" / "share" / "codegen-hook"
    assert data_dir(Settings(), env={}) == expected
    assert data_dir(Settings(), env={"XDG_DATA_HOME": ""}) == expected
    # the isolated HOME from conftest, never the developer's
    assert str(expected).startswith(str(tmp_path))


def test_data_dir_env_reaches_setting(repo: Path, tmp_path: Path) -> None:
    env = {"CODEGEN_HOOK_DATA_DIR": str(tmp_path / "store")}
    assert data_dir(resolve_settings(repo, env=env), env={}) == tmp_path / "store"


@pytest.mark.parametrize("marker", [".git", "pyproject.toml", ".codegen-hook.yaml"])
def test_find_config_root_walks_up(repo: Path, marker: str) -> None:
    if marker == ".git":
        (repo / ".git").mkdir()
    else:
        (repo / marker).write_text("")
    deep = repo / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_config_root(deep) == repo.resolve()
    assert find_config_root(repo) == repo.resolve()


def test_find_config_root_nearest_wins(repo: Path) -> None:
    (repo / ".git").mkdir()
    sub = repo / "pkg"
    (sub / "src").mkdir(parents=True)
    (sub / "pyproject.toml").write_text("")
    assert find_config_root(sub / "src") == sub.resolve()


def test_find_config_root_without_markers(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bare = tmp_path / "bare" / "dir"
    bare.mkdir(parents=True)
    real_exists = Path.exists
    # hide any marker that may sit above tmp_path on this machine
    monkeypatch.setattr(Path, "exists", lambda self: str(self).startswith(str(bare))
                        and real_exists(self))
    assert find_config_root(bare) == bare.resolve()
