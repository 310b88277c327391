"""OpenAICompatBackend against a real HTTP server on 127.0.0.1, and the egress rule."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from codegen_hook.backends.base import CompletionRequest, Message
from codegen_hook.backends.openai_http import (OpenAICompatBackend, check_endpoint_allowed,
                                               is_loopback_host)
from codegen_hook.errors import BackendError, BackendUnavailableError, EgressRefusedError

# (status, content type, body bytes) for a request's JSON payload
Reply = tuple[int, str, bytes]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    payload: Any


@dataclass
class FakeServer:
    base_url: str
    requests: list[Recorded] = field(default_factory=list)
    reply: Callable[[Any], Reply] = field(default=lambda payload: (500, "text/plain", b"unset"))


def chat_reply(contents: list[str], prompt_tokens: int = 7, completion_tokens: int = 5) -> Reply:
    body = {
        "id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
        "choices": [{"index": i, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}
                    for i, text in enumerate(contents)],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }
    return 200, "application/json", json.dumps(body).encode()


def honours_n(payload: Any) -> Reply:
    return chat_reply([f"answer {i} of {payload['n']}" for i in range(payload["n"])])


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                payload: Any = json.loads(raw)
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            state.requests.append(Recorded(self.path, dict(self.headers.items()), payload))
            if self.path != "/v1/chat/completions":
                status, kind, body = 404, "text/plain", b"no such route"
            else:
                status, kind, body = state.reply(payload)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def request(n: int = 1, **kwargs: Any) -> CompletionRequest:
    messages = (Message("system", "You write Python."), Message("user", "Fill the stub."))
    return CompletionRequest(messages, n=n, **kwargs)


def test_request_payload_and_texts(server: FakeServer) -> None:
    server.reply = honours_n
    backend = OpenAICompatBackend(server.base_url, "qwen2.5-coder:0.5b", n_ctx=8192)
    completion = backend.complete(request(n=2, temperature=0.8, max_tokens=256,
                                          stop=("\n\n\n", "```"), seed=11))

    assert completion.texts == ["answer 0 of 2", "answer 1 of 2"]
    assert completion.prompt_tokens == 7 and completion.completion_tokens == 5
    assert completion.model == f"openai:qwen2.5-coder:0.5b@{server.base_url}"
    assert len(server.requests) == 1
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.payload == {
        "model": "qwen2.5-coder:0.5b",
        "messages": [{"role": "system", "content": "You write Python."},
                     {"role": "user", "content": "Fill the stub."}],
        "temperature": 0.8, "max_tokens": 256, "n": 2,
        "stop": ["\n\n\n", "```"], "seed": 11,
        "options": {"num_ctx": 8192},
    }
    assert "Authorization" not in sent.headers


def test_stop_and_seed_are_left_out_when_unset(server: FakeServer) -> None:
    server.reply = honours_n
    backend = OpenAICompatBackend(server.base_url + "/", "m")  # a trailing slash is fine
    assert backend.complete(request()).texts == ["answer 0 of 1"]
    payload = server.requests[0].payload
    assert server.requests[0].path == "/v1/chat/completions"
    assert "stop" not in payload and "seed" not in payload
    assert payload["n"] == 1 and payload["temperature"] == 0.0
    assert payload["max_tokens"] == 512
    assert payload["options"] == {"num_ctx": 4096}


def test_api_key_is_sent_as_bearer_token(server: FakeServer) -> None:
    server.reply = honours_n
    OpenAICompatBackend(server.base_url, "m", api_key="sk-local").complete(request())
    assert server.requests[0].headers["Authorization"] == "Bearer sk-local"


def test_null_content_becomes_empty_text(server: FakeServer) -> None:
    server.reply = lambda payload: (200, "application/json", json.dumps(
        {"choices": [{"message": {"role": "assistant", "content": None}}]}).encode())
    completion = OpenAICompatBackend(server.base_url, "m").complete(request())
    assert completion.texts == [""]
    assert completion.prompt_tokens == 0


def test_server_that_ignores_n_is_asked_again(server: FakeServer) -> None:
    counter = iter(range(100))
    server.reply = lambda payload: chat_reply([f"only one #{next(counter)}"])
    backend = OpenAICompatBackend(server.base_url, "m")
    completion = backend.complete(request(n=3, seed=5, temperature=0.8))

    assert completion.texts == ["only one #0", "only one #1", "only one #2"]
    assert len(server.requests) == 3
    assert [r.payload["n"] for r in server.requests] == [3, 2, 1]
    seeds = [r.payload["seed"] for r in server.requests]
    assert len(set(seeds)) == 3  # each retry asks for a different sample
    assert all(r.payload["temperature"] == 0.8 for r in server.requests)


def test_usage_of_repeated_requests_is_counted(server: FakeServer) -> None:
    server.reply = lambda payload: chat_reply(["one"], prompt_tokens=7, completion_tokens=5)
    completion = OpenAICompatBackend(server.base_url, "m").complete(request(n=3))
    assert completion.texts == ["one", "one", "one"]
    assert len(server.requests) == 3
    assert completion.prompt_tokens == 21
    assert completion.completion_tokens == 15


def test_more_choices_than_asked_are_cut_to_n(server: FakeServer) -> None:
    server.reply = lambda payload: chat_reply(["a", "b", "c", "d"])
    assert OpenAICompatBackend(server.base_url, "m").complete(request(n=2)).texts == ["a", "b"]


def test_http_500_is_backend_error(server: FakeServer) -> None:
    server.reply = lambda payload: (500, "text/plain", b"model 'm' not found")
    backend = OpenAICompatBackend(server.base_url, "m")
    with pytest.raises(BackendError, match="500") as caught:
        backend.complete(request())
    assert not isinstance(caught.value, BackendUnavailableError)
    assert "model 'm' not found" in str(caught.value)


def test_wrong_base_url_404_is_backend_error(server: FakeServer) -> None:
    backend = OpenAICompatBackend(server.base_url.removesuffix("/v1"), "m")
    with pytest.raises(BackendError, match="404"):
        backend.complete(request())
    assert server.requests[0].path == "/chat/completions"


def test_non_json_answer_is_backend_error(server: FakeServer) -> None:
    server.reply = lambda payload: (200, "text/html", b"<html>Hello</html>")
    with pytest.raises(BackendError, match="not JSON"):
        OpenAICompatBackend(server.base_url, "m").complete(request())


def test_json_that_is_not_an_object_is_backend_error(server: FakeServer) -> None:
    server.reply = lambda payload: (200, "application/json", b"[1, 2, 3]")
    with pytest.raises(BackendError, match="not JSON"):
        OpenAICompatBackend(server.base_url, "m").complete(request())


def test_json_without_choices_is_backend_error(server: FakeServer) -> None:
    server.reply = lambda payload: (200, "application/json", b'{"error": "busy"}')
    with pytest.raises(BackendError, match="choices"):
        OpenAICompatBackend(server.base_url, "m").complete(request())


def test_empty_choices_is_backend_error(server: FakeServer) -> None:
    server.reply = lambda payload: chat_reply([])
    backend = OpenAICompatBackend(server.base_url, "m")
    try:
        backend.complete(request())
    except BackendError:
        outcome = "BackendError"
    except RecursionError:
        outcome = "RecursionError"
    assert outcome == "BackendError", (outcome, f"{len(server.requests)} requests sent")
    assert len(server.requests) <= 3


def test_connection_refused_is_backend_unavailable() -> None:
    # A bound socket that does not listen: connecting to its port is refused.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as idle:
        idle.bind(("127.0.0.1", 0))
        port = idle.getsockname()[1]
        backend = OpenAICompatBackend(f"http://127.0.0.1:{port}/v1", "m")
        with pytest.raises(BackendUnavailableError) as caught:
            backend.complete(request())
    message = str(caught.value)
    assert "start it" in message
    assert f"127.0.0.1:{port}" in message
    assert isinstance(caught.value, BackendError)


# -- which endpoints are allowed ----------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:11434/v1",
    "http://localhost:8080/v1",
    "http://[::1]:8000/v1",
    "https://127.0.0.1/v1",
    "http://127.5.6.7/v1",
    "http://LOCALHOST/v1",
])
def test_loopback_endpoints_are_allowed(url: str) -> None:
    check_endpoint_allowed(url, ())


@pytest.mark.parametrize("url", [
    "http://example.com/v1",
    "https://api.openai.com/v1",
    "http://10.0.0.5:11434/v1",
    "http://0.0.0.0:11434/v1",
    "http://127.0.0.1@evil.example/v1",
    "http://localhost.evil.example/v1",
])
def test_remote_endpoints_are_refused(url: str) -> None:
    with pytest.raises(EgressRefusedError, match="allow-remote-host"):
        check_endpoint_allowed(url, ())


def test_allowed_remote_host_over_https_is_accepted() -> None:
    check_endpoint_allowed("https://gpu.example.com/v1", ("gpu.example.com",))
    with pytest.raises(EgressRefusedError, match="allow-remote-host"):
        check_endpoint_allowed("https://other.example.com/v1", ("gpu.example.com",))


def test_allowed_host_names_ignore_case() -> None:
    check_endpoint_allowed("https://GPU.Example.com/v1", ("GPU.Example.com",))


def test_allowed_remote_host_over_http_is_refused() -> None:
    with pytest.raises(EgressRefusedError, match="must use https"):
        check_endpoint_allowed("http://gpu.example.com/v1", ("gpu.example.com",))


@pytest.mark.parametrize("url", [
    "ftp://127.0.0.1/v1",
    "file:///etc/passwd",
    "127.0.0.1:11434/v1",
    "http:///v1",
    "",
])
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(EgressRefusedError, match="not an http"):
        check_endpoint_allowed(url, ("127.0.0.1",))


def test_backend_refuses_a_remote_endpoint_before_any_request() -> None:
    with pytest.raises(EgressRefusedError):
        OpenAICompatBackend("http://example.com/v1", "m")
    backend = OpenAICompatBackend("https://gpu.example.com/v1", "m",
                                  allowed_hosts=("gpu.example.com",))
    assert backend.base_url == "https://gpu.example.com/v1"


def test_is_loopback_host() -> None:
    assert is_loopback_host("localhost")
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("::1")
    assert is_loopback_host("[::1]")
    assert not is_loopback_host("example.com")
    assert not is_loopback_host("192.168.1.1")
