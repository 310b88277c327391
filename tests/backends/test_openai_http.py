"""OpenAICompatBackend against a real HTTP server on 127.0.0.1, and the egress rule."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from codegen_hook.backends.base import CompletionRequest, Message
from codegen_hook.backends import openai_http
from codegen_hook.backends.openai_http import (OpenAICompatBackend, check_endpoint_allowed,
                                               is_loopback_host)
from codegen_hook.errors import (BackendError, BackendUnavailableError, ConfigError,
                                 EgressRefusedError)

# (status, content type, body bytes) for a request's JSON payload
Reply = tuple[int, str, bytes]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    payload: Any


@dataclass
class FakeServer:
    """A loopback server with the routes and shapes of the public docs: OpenAI's
    `POST /v1/chat/completions`, Ollama's `POST /api/chat` and `GET /api/version`,
    llama.cpp's `GET /props`, vLLM's `GET /version` (GET routes only when set in `gets`)."""

    base_url: str
    requests: list[Recorded] = field(default_factory=list)
    reply: Callable[[Any], Reply] = field(default=lambda payload: (500, "text/plain", b"unset"))
    ollama_reply: Callable[[Any], Reply] = field(
        default=lambda payload: (500, "text/plain", b"unset"))
    gets: dict[str, Reply] = field(default_factory=dict)
    delay: float = 0.0  # seconds each POST takes, to see concurrency
    get_delay: float = 0.0
    inflight: int = 0
    max_inflight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self, path: str = "/v1/chat/completions") -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def get_paths(self) -> list[str]:
        return [r.path for r in self.requests if r.method == "GET"]


def json_reply(body: Any, status: int = 200) -> Reply:
    return status, "application/json", json.dumps(body).encode()


def chat_reply(contents: list[str], prompt_tokens: int = 7, completion_tokens: int = 5) -> Reply:
    body = {
        "id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
        "choices": [{"index": i, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}
                    for i, text in enumerate(contents)],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }
    return json_reply(body)


def honours_n(payload: Any) -> Reply:
    return chat_reply([f"answer {i} of {payload['n']}" for i in range(payload["n"])])


def ignores_n(payload: Any) -> Reply:
    """llama-cpp-python's server: one choice whatever `n` says, from the request's seed."""
    return chat_reply([f"t={payload['temperature']} seed={payload.get('seed')}"])


def ollama_chat(content: str, prompt_eval_count: int = 26, eval_count: int = 9) -> Reply:
    """A non-streamed `POST /api/chat` answer, as Ollama's API docs show it."""
    return json_reply({
        "model": "qwen2.5-coder:0.5b", "created_at": "2024-12-12T14:13:43.416799Z",
        "message": {"role": "assistant", "content": content},
        "done": True, "done_reason": "stop", "total_duration": 5191566416,
        "load_duration": 2154458, "prompt_eval_count": prompt_eval_count,
        "prompt_eval_duration": 383809000, "eval_count": eval_count,
        "eval_duration": 4799921000})


def ollama_echo(payload: Any) -> Reply:
    options = payload["options"]
    return ollama_chat(f"t={options['temperature']} seed={options.get('seed')}")


OLLAMA_VERSION = json_reply({"version": "0.12.6"})
VLLM_VERSION = json_reply({"version": "0.6.3.post1"})
LLAMA_PROPS = json_reply({
    "default_generation_settings": {"n_ctx": 4096, "params": {"temperature": 0.8}},
    "total_slots": 2, "model_path": "/models/qwen2.5-coder-0.5b.gguf",
    "chat_template": "", "build_info": "b4500-abc"})


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def _send(self, reply: Reply) -> None:
            status, kind, body = reply
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            state.requests.append(Recorded("GET", self.path, dict(self.headers.items()), None))
            time.sleep(state.get_delay)
            self._send(state.gets.get(self.path, (404, "text/plain", b"404 page not found")))

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                payload: Any = json.loads(raw)
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            with state.lock:
                state.requests.append(Recorded("POST", self.path, dict(self.headers.items()),
                                               payload))
                state.inflight += 1
                state.max_inflight = max(state.max_inflight, state.inflight)
            try:
                time.sleep(state.delay)
                if self.path == "/v1/chat/completions":
                    reply = state.reply(payload)
                elif self.path == "/api/chat":
                    reply = state.ollama_reply(payload)
                else:
                    reply = (404, "text/plain", b"no such route")
            finally:
                with state.lock:
                    state.inflight -= 1
            self._send(reply)

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


# one greedy text and four sampled ones, seeds recorded: what the fill loop asks for
PLAN = ((0.0, 100), (0.8, 101), (0.8, 102), (0.8, 103), (0.8, 104))
MESSAGES = [{"role": "system", "content": "You write Python."},
            {"role": "user", "content": "Fill the stub."}]


def test_request_payload_and_texts(server: FakeServer) -> None:
    server.reply = honours_n
    backend = OpenAICompatBackend(server.base_url, "qwen2.5-coder:0.5b", n_ctx=8192)
    completion = backend.complete(request(n=2, temperature=0.8, max_tokens=256,
                                          stop=("\n\n\n", "```"), seed=11))

    assert completion.texts == ["answer 0 of 2", "answer 1 of 2"]
    assert completion.prompt_tokens == 7 and completion.completion_tokens == 5
    assert completion.model == f"openai:qwen2.5-coder:0.5b@{server.base_url}"
    [sent] = [r for r in server.requests if r.method == "POST"]
    assert sent.path == "/v1/chat/completions"
    # `options` is Ollama's, which its OpenAI endpoint ignores: not sent to OpenAI servers
    assert sent.payload == {
        "model": "qwen2.5-coder:0.5b", "messages": MESSAGES,
        "temperature": 0.8, "max_tokens": 256, "n": 2,
        "stop": ["\n\n\n", "```"], "seed": 11,
    }
    assert "Authorization" not in sent.headers


def test_stop_and_seed_are_left_out_when_unset(server: FakeServer) -> None:
    server.reply = honours_n
    backend = OpenAICompatBackend(server.base_url + "/", "m")  # a trailing slash is fine
    assert backend.complete(request()).texts == ["answer 0 of 1"]
    [sent] = server.posts()
    assert "stop" not in sent.payload and "seed" not in sent.payload
    assert sent.payload["n"] == 1 and sent.payload["temperature"] == 0.0
    assert sent.payload["max_tokens"] == 512
    assert "options" not in sent.payload


def test_api_key_is_sent_as_bearer_token(server: FakeServer) -> None:
    server.reply = honours_n
    OpenAICompatBackend(server.base_url, "m", api_key="sk-local").complete(request())
    assert all(r.headers["Authorization"] == "Bearer sk-local" for r in server.requests)
    assert server.posts()


def test_null_content_becomes_empty_text(server: FakeServer) -> None:
    server.reply = lambda payload: (200, "application/json", json.dumps(
        {"choices": [{"message": {"role": "assistant", "content": None}}]}).encode())
    completion = OpenAICompatBackend(server.base_url, "m").complete(request())
    assert completion.texts == [""]
    assert completion.prompt_tokens == 0


# -- the plan: `n` where the server has it, one request per text where it has not ---------


def sent_plan(server: FakeServer) -> list[tuple[float, int | None, int]]:
    """(temperature, seed, n) of every chat request, sorted: they may run concurrently."""
    return sorted((r.payload["temperature"], r.payload.get("seed"), r.payload["n"])
                  for r in server.posts())


def test_vllm_gets_one_request_per_temperature_with_n(server: FakeServer) -> None:
    server.gets["/version"] = VLLM_VERSION
    server.reply = lambda p: chat_reply([f"t={p['temperature']} #{i}" for i in range(p["n"])])
    backend = OpenAICompatBackend(server.base_url, "m")
    completion = backend.complete(request(n=5, schedule=PLAN))

    assert backend.flavor == "vllm"
    assert completion.texts == ["t=0.0 #0", "t=0.8 #0", "t=0.8 #1", "t=0.8 #2", "t=0.8 #3"]
    # greedy alone; the four sampled texts in one request, seeded with the group's first
    assert sent_plan(server) == [(0.0, 100, 1), (0.8, 101, 4)]
    assert completion.prompt_tokens == 14 and completion.completion_tokens == 10


def test_sampled_temperatures_are_grouped_in_plan_order(server: FakeServer) -> None:
    server.reply = lambda p: chat_reply([f"t={p['temperature']} #{i}" for i in range(p["n"])])
    backend = OpenAICompatBackend(server.base_url, "m", flavor="openai")
    plan = ((0.8, 1), (0.4, 2), (0.8, 3), (0.0, 4), (0.0, 5))
    completion = backend.complete(request(n=5, schedule=plan))

    assert completion.texts == ["t=0.8 #0", "t=0.4 #0", "t=0.8 #1", "t=0.0 #0", "t=0.0 #0"]
    assert sent_plan(server) == [(0.0, 4, 1), (0.0, 5, 1), (0.4, 2, 1), (0.8, 1, 2)]
    assert server.get_paths() == []  # a configured flavour is not probed


def test_server_that_ignores_n_gets_one_request_per_text(server: FakeServer) -> None:
    server.reply = ignores_n  # llama-cpp-python's server: no flavour endpoint, `n` ignored
    backend = OpenAICompatBackend(server.base_url, "m")
    completion = backend.complete(request(n=5, schedule=PLAN))

    assert backend.flavor == "openai"
    assert completion.texts == ["t=0.0 seed=100", "t=0.8 seed=101", "t=0.8 seed=102",
                                "t=0.8 seed=103", "t=0.8 seed=104"]
    # the grouped request answered its first seed; the rest came one by one, own seeds
    assert sent_plan(server) == [(0.0, 100, 1), (0.8, 101, 4), (0.8, 102, 1),
                                 (0.8, 103, 1), (0.8, 104, 1)]
    assert completion.prompt_tokens == 5 * 7

    server.requests.clear()  # learned: the next plan goes one request per text at once
    again = backend.complete(request(n=5, schedule=PLAN))
    assert again.texts == completion.texts
    assert sent_plan(server) == [(0.0, 100, 1), (0.8, 101, 1), (0.8, 102, 1),
                                 (0.8, 103, 1), (0.8, 104, 1)]


def test_server_that_refuses_n_gets_one_request_per_text(server: FakeServer) -> None:
    def refuse(payload: Any) -> Reply:
        if payload["n"] != 1:  # llama-server's answer to n > 1
            return json_reply({"error": {"code": 500, "type": "server_error",
                                         "message": "Only one completion choice is allowed"}},
                              500)
        return ignores_n(payload)

    server.reply = refuse
    completion = OpenAICompatBackend(server.base_url, "m", flavor="openai").complete(
        request(n=3, temperature=0.8, seed=7))
    assert completion.texts == ["t=0.8 seed=7", "t=0.8 seed=8", "t=0.8 seed=9"]
    assert sent_plan(server) == [(0.8, 7, 1), (0.8, 7, 3), (0.8, 8, 1), (0.8, 9, 1)]


def test_an_error_that_is_not_about_n_is_still_raised(server: FakeServer) -> None:
    server.reply = lambda payload: (404, "application/json",
                                    b'{"error": "model \\"m\\" not found"}')
    backend = OpenAICompatBackend(server.base_url, "m", flavor="vllm")
    with pytest.raises(BackendError, match="404"):
        backend.complete(request(n=3, temperature=0.8, seed=1))
    assert backend._honours_n  # nothing learned from a failure


def test_llama_cpp_server_gets_parallel_requests_one_per_text(server: FakeServer) -> None:
    server.gets["/props"] = LLAMA_PROPS  # total_slots: 2
    server.reply = ignores_n
    server.delay = 0.2
    backend = OpenAICompatBackend(server.base_url, "m")
    completion = backend.complete(request(n=5, schedule=PLAN, max_tokens=64))

    assert backend.flavor == "llama-cpp-server"
    assert completion.texts == ["t=0.0 seed=100", "t=0.8 seed=101", "t=0.8 seed=102",
                                "t=0.8 seed=103", "t=0.8 seed=104"]
    assert sent_plan(server) == [(t, s, 1) for t, s in PLAN]  # never n > 1 (it refuses)
    assert server.max_inflight == 2  # as wide as the server's slots
    assert all(r.payload["max_tokens"] == 64 and r.payload["messages"] == MESSAGES
               for r in server.posts())


def test_openai_parallel_sets_the_width(server: FakeServer) -> None:
    server.reply = ignores_n
    server.delay = 0.05
    backend = OpenAICompatBackend(server.base_url, "m", flavor="llama-cpp-server",
                                  parallel=1)
    assert len(backend.complete(request(n=4, temperature=0.8, seed=1)).texts) == 4
    assert server.max_inflight == 1
    assert len(server.posts()) == 4


def test_one_failed_parallel_request_fails_the_completion(server: FakeServer) -> None:
    def flaky(payload: Any) -> Reply:
        if payload.get("seed") == 102:
            return 503, "text/plain", b"slot unavailable"
        return ignores_n(payload)

    server.reply = flaky
    backend = OpenAICompatBackend(server.base_url, "m", flavor="llama-cpp-server")
    with pytest.raises(BackendError, match="503"):
        backend.complete(request(n=5, schedule=PLAN))


def test_usage_of_repeated_requests_is_counted(server: FakeServer) -> None:
    server.reply = lambda payload: chat_reply(["one"], prompt_tokens=7, completion_tokens=5)
    completion = OpenAICompatBackend(server.base_url, "m").complete(request(n=3))
    assert completion.texts == ["one", "one", "one"]
    assert len(server.posts()) == 3  # greedy texts are asked one request each
    assert completion.prompt_tokens == 21
    assert completion.completion_tokens == 15


def test_more_choices_than_asked_are_cut_to_n(server: FakeServer) -> None:
    server.reply = lambda payload: chat_reply(["a", "b", "c", "d"])
    completion = OpenAICompatBackend(server.base_url, "m").complete(
        request(n=2, temperature=0.8))
    assert completion.texts == ["a", "b"]


# -- Ollama: its native /api/chat, where num_ctx is honoured ------------------------------


def test_ollama_gets_native_chat_requests_with_num_ctx(server: FakeServer) -> None:
    server.gets["/api/version"] = OLLAMA_VERSION
    server.ollama_reply = ollama_echo
    server.delay = 0.1
    backend = OpenAICompatBackend(server.base_url, "qwen2.5-coder:0.5b", n_ctx=8192)
    completion = backend.complete(request(n=5, schedule=PLAN, max_tokens=256,
                                          stop=("\n\n\n",)))

    assert backend.flavor == "ollama"
    assert completion.texts == ["t=0.0 seed=100", "t=0.8 seed=101", "t=0.8 seed=102",
                                "t=0.8 seed=103", "t=0.8 seed=104"]
    assert server.posts() == []  # nothing through its OpenAI endpoint
    sent = sorted(server.posts("/api/chat"), key=lambda r: r.payload["options"]["seed"])
    assert [r.payload for r in sent] == [{
        "model": "qwen2.5-coder:0.5b", "messages": MESSAGES, "stream": False,
        "options": {"num_ctx": 8192, "temperature": t, "seed": s, "num_predict": 256,
                    "stop": ["\n\n\n"]},
    } for t, s in PLAN]
    assert server.max_inflight > 1  # in parallel
    assert completion.prompt_tokens == 5 * 26 and completion.completion_tokens == 5 * 9


def test_ollama_without_seed_or_stop_leaves_them_out(server: FakeServer) -> None:
    server.ollama_reply = lambda payload: ollama_chat("body")
    backend = OpenAICompatBackend(server.base_url, "m", flavor="ollama")
    assert backend.complete(request()).texts == ["body"]
    [sent] = server.posts("/api/chat")
    assert sent.payload["options"] == {"num_ctx": 4096, "temperature": 0.0,
                                       "num_predict": 512}
    assert server.get_paths() == []


def test_ollama_prompt_that_filled_the_window_is_an_error(server: FakeServer) -> None:
    server.ollama_reply = lambda payload: ollama_chat("cut", prompt_eval_count=2048)
    backend = OpenAICompatBackend(server.base_url, "m", flavor="ollama", n_ctx=2048)
    with pytest.raises(BackendError, match="raise n_ctx") as caught:
        backend.complete(request())
    assert "2048" in str(caught.value)
    server.ollama_reply = lambda payload: ollama_chat("fits", prompt_eval_count=2047)
    assert backend.complete(request()).texts == ["fits"]


def test_ollama_unknown_model_is_backend_error(server: FakeServer) -> None:
    server.ollama_reply = lambda payload: json_reply(
        {"error": "model 'm' not found, try pulling it first"}, 404)
    backend = OpenAICompatBackend(server.base_url, "m", flavor="ollama")
    with pytest.raises(BackendError, match="ollama pull") as caught:
        backend.complete(request())
    assert "not found" in str(caught.value)


def test_ollama_answer_without_content_is_backend_error(server: FakeServer) -> None:
    server.ollama_reply = lambda payload: json_reply({"done": True})
    backend = OpenAICompatBackend(server.base_url, "m", flavor="ollama")
    with pytest.raises(BackendError, match="message.content"):
        backend.complete(request())


# -- flavour detection ----------------------------------------------------------------


@pytest.mark.parametrize(("gets", "flavor"), [
    ({"/props": LLAMA_PROPS}, "llama-cpp-server"),
    ({"/api/version": OLLAMA_VERSION}, "ollama"),
    ({"/version": VLLM_VERSION}, "vllm"),
    ({}, "openai"),
    ({"/version": (200, "text/html", b"<html>1.0</html>")}, "openai"),
    ({"/api/version": json_reply(["0.1"])}, "openai"),
    ({"/props": json_reply({"total_slots": 4})}, "openai"),
])
def test_flavour_detection(server: FakeServer, gets: dict[str, Reply], flavor: str) -> None:
    server.gets.update(gets)
    backend = OpenAICompatBackend(server.base_url, "m")
    assert backend.flavor == flavor
    assert backend.flavor == flavor
    assert len(server.get_paths()) <= 3  # asked once, not per call
    assert all(not path.startswith("/v1") for path in server.get_paths())  # at the root


def test_detection_happens_once_per_backend(server: FakeServer) -> None:
    server.reply = honours_n
    backend = OpenAICompatBackend(server.base_url, "m")
    backend.complete(request())
    backend.complete(request())
    assert server.get_paths() == ["/props", "/api/version", "/version"]


def test_a_slow_probe_times_out_into_plain_openai(
        server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_http, "PROBE_TIMEOUT_S", 0.2)
    server.gets["/props"] = LLAMA_PROPS
    server.get_delay = 1.0
    backend = OpenAICompatBackend(server.base_url, "m")
    start = time.monotonic()
    assert backend.flavor == "openai"
    assert time.monotonic() - start < 3.0


def test_an_unreachable_server_is_plain_openai_then_unavailable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as idle:
        idle.bind(("127.0.0.1", 0))
        backend = OpenAICompatBackend(f"http://127.0.0.1:{idle.getsockname()[1]}/v1", "m")
        assert backend.flavor == "openai"
        with pytest.raises(BackendUnavailableError):
            backend.complete(request())


def test_bad_flavour_or_width_is_config_error() -> None:
    with pytest.raises(ConfigError, match="openai_flavor"):
        OpenAICompatBackend("http://127.0.0.1:1/v1", "m", flavor="tgi")
    with pytest.raises(ConfigError, match="openai_parallel"):
        OpenAICompatBackend("http://127.0.0.1:1/v1", "m", parallel=-1)


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
    assert [r.path for r in server.requests if r.method == "POST"] == ["/chat/completions"]


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
    assert len(server.posts()) <= 3


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
