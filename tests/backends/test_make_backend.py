"""make_backend: the configured backend, built lazily; and llama-cpp on a bad file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from codegen_hook.backends import make_backend
from codegen_hook.backends.base import CompletionRequest, Message
from codegen_hook.backends.llama import LlamaCppBackend
from codegen_hook.backends.openai_http import OpenAICompatBackend
from codegen_hook.cli.common import add_settings_flags
from codegen_hook.config import Settings, resolve_settings
from codegen_hook.errors import ConfigError, EgressRefusedError, ModelError, ModelNotFoundError


def test_openai_settings_give_the_openai_backend(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-from-env")
    settings = Settings(backend="openai", openai_base_url="http://localhost:11434/v1",
                        openai_model="coder:1b", openai_api_key_env="MY_KEY", n_ctx=2048)
    backend = make_backend(settings, tmp_path / "data")
    assert isinstance(backend, OpenAICompatBackend)
    assert backend.model == "coder:1b"
    assert backend.base_url == "http://localhost:11434/v1"
    assert backend.n_ctx == 2048
    assert backend.describe() == "openai:coder:1b@http://localhost:11434/v1"
    assert backend._client.headers["Authorization"] == "Bearer sk-from-env"
    assert backend._flavor is None and backend.parallel == 0  # auto: asked on first use
    assert not (tmp_path / "data").exists()  # nothing assembled for a remote backend


def test_openai_flavor_and_parallel_reach_the_backend(tmp_path: Path) -> None:
    settings = Settings(backend="openai", openai_base_url="http://127.0.0.1:8080/v1",
                        openai_flavor="llama-cpp-server", openai_parallel=3)
    backend = make_backend(settings, tmp_path)
    assert isinstance(backend, OpenAICompatBackend)
    assert backend.flavor == "llama-cpp-server"  # configured: no probe
    assert backend.parallel == 3


def test_openai_settings_with_a_remote_host_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EgressRefusedError):
        make_backend(Settings(backend="openai", openai_base_url="https://gpu.example.com/v1"),
                     tmp_path)
    allowed = Settings(backend="openai", openai_base_url="https://gpu.example.com/v1",
                       allow_remote_hosts=("gpu.example.com",))
    assert isinstance(make_backend(allowed, tmp_path), OpenAICompatBackend)


def test_unknown_backend_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown backend"):
        make_backend(Settings(backend="transformers"), tmp_path)


@pytest.fixture
def chat_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    pytest.importorskip("langchain_core")
    (tmp_path / "lc_factory_mod.py").write_text(
        "from langchain_core.language_models.fake_chat_models import GenericFakeChatModel\n"
        "def make():\n"
        "    return GenericFakeChatModel(messages=iter(['def f(): ...']))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lc_factory_mod", raising=False)
    return "lc_factory_mod:make"


def test_langchain_settings_give_the_langchain_backend(tmp_path: Path,
                                                       chat_factory: str) -> None:
    from codegen_hook.backends.langchain import LangChainBackend

    backend = make_backend(Settings(backend="langchain", langchain_model=chat_factory),
                           tmp_path / "data")
    assert isinstance(backend, LangChainBackend)
    assert backend.describe() == "langchain:GenericFakeChatModel"
    assert backend.complete(CompletionRequest((Message("user", "hi"),))).texts == [
        "def f(): ..."]
    assert not (tmp_path / "data").exists()


def test_langchain_without_a_model_path_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="langchain_model"):
        make_backend(Settings(backend="langchain"), tmp_path)
    with pytest.raises(ConfigError, match="cannot import"):
        make_backend(Settings(backend="langchain", langchain_model="not_installed_xyz:make"),
                     tmp_path)


def test_langchain_without_langchain_core_names_the_extra(
        tmp_path: Path, chat_factory: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_core.language_models", None)
    with pytest.raises(ConfigError, match=r"pip install 'codegen-hook\[langchain\]'"):
        make_backend(Settings(backend="langchain", langchain_model=chat_factory), tmp_path)


def test_backend_flags_become_settings(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_settings_flags(parser)
    args = parser.parse_args(["--backend", "langchain", "--langchain-model", "pkg.mod:make",
                              "--openai-flavor", "ollama", "--openai-parallel", "2"])
    flags = {key: getattr(args, key) for key in
             ("backend", "langchain_model", "openai_flavor", "openai_parallel")}
    settings = resolve_settings(tmp_path, env={}, flags=flags)
    assert (settings.backend, settings.langchain_model) == ("langchain", "pkg.mod:make")
    assert (settings.openai_flavor, settings.openai_parallel) == ("ollama", 2)
    with pytest.raises(SystemExit):
        parser.parse_args(["--openai-flavor", "tgi"])


def test_llama_cpp_with_a_missing_model_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(ModelNotFoundError, match="neither a known model"):
        make_backend(Settings(backend="llama-cpp", model=str(missing)), tmp_path / "data")


def test_llama_cpp_with_an_existing_file_is_lazy(tmp_path: Path) -> None:
    dummy = tmp_path / "dummy.gguf"
    dummy.write_bytes(b"not really a model\n")
    backend = make_backend(Settings(backend="llama-cpp", model=str(dummy), n_ctx=1024,
                                    n_threads=2), tmp_path / "data")
    assert isinstance(backend, LlamaCppBackend)
    assert backend.model_path == dummy
    assert backend.n_ctx == 1024 and backend.n_threads == 2
    assert backend._llama is None  # nothing loaded until the first request
    assert backend.load_seconds == 0.0
    assert backend.describe() == "llama-cpp:dummy.gguf"


def test_llama_cpp_on_a_non_gguf_file_is_model_error(tmp_path: Path) -> None:
    dummy = tmp_path / "dummy.gguf"
    dummy.write_bytes(b"this is not a GGUF file\n" * 8)
    backend = LlamaCppBackend(dummy, n_ctx=512, n_threads=1)
    req = CompletionRequest((Message("user", "hi"),))
    with pytest.raises(ModelError, match="could not load it") as caught:
        backend.complete(req)
    assert str(dummy) in str(caught.value)
    assert not isinstance(caught.value, ModelNotFoundError)
    assert backend._llama is None
    with pytest.raises(ModelError):  # and again, not a half-loaded model
        backend.complete(req)
