"""The OpenAI-compatible backend against a real server: llama.cpp's own
(llama-cpp-python[server]) serving the embedded model on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.real_model

# `python -m llama_cpp.server`, with the model loaded as the embedded backend loads it: a
# build with AMX would die with SIGILL in its extra buffers' kernels (backends/llama.py).
SERVER = """\
import runpy, llama_cpp
from codegen_hook.backends.llama import extra_buffers_work, model_params
with model_params(extra_buffers=extra_buffers_work(llama_cpp)):
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def llama_server(real_model_path: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-c", SERVER, "--model",
                             str(real_model_path), "--host", "127.0.0.1", "--port", str(port),
                             "--n_ctx", "4096"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(600):  # bounded wait for the server to listen (up to 60 s)
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "server.log").read_text()[-2000:])
            try:
                httpx.get(f"{base}/models", timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_fill_through_a_real_openai_compatible_server(llama_server: str, tmp_path: Path) -> None:
    path = tmp_path / "strings.py"
    path.write_text((ROOT / "examples" / "strings.py").read_text())
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "codegen-hook"), "fill", "--json", "--backend",
         "openai", "--openai-base-url", llama_server, "--openai-model", "qwen", str(path)],
        cwd=tmp_path, capture_output=True, text=True)
    [stub] = json.loads(proc.stdout)["stubs"]
    assert stub["verdict"] == "verified", stub["reasons"]
    assert stub["model"] == f"openai:qwen@{llama_server}"
    assert "    ...\n" not in path.read_text() and proc.returncode == 1


def test_plan_through_llama_cpp_python_server(llama_server: str) -> None:
    """llama-cpp-python's server has no flavour endpoint and ignores `n`: plain openai,
    then one request per text, each seed its own (so the same plan gives the same texts)."""
    from codegen_hook.backends.base import CompletionRequest, Message
    from codegen_hook.backends.openai_http import OpenAICompatBackend

    backend = OpenAICompatBackend(llama_server, "qwen")
    plan = CompletionRequest(
        (Message("user", "Write a Python function add(a, b) returning a + b."),), n=3,
        schedule=((0.0, 1), (0.8, 2), (0.8, 3)), max_tokens=32)
    first = backend.complete(plan)
    assert backend.flavor == "openai"
    assert not backend._honours_n  # it answered n=2 with one choice
    assert len(first.texts) == 3 and all(first.texts)
    assert first.completion_tokens > 0
    assert backend.complete(plan).texts == first.texts
