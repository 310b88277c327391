"""An OpenAI-compatible chat endpoint: Ollama, llama.cpp server, vLLM, LM Studio, OpenAI.

Only loopback hosts are allowed unless the user lists a host in
`allow_remote_hosts`; a listed remote host must be reached over https, and https is
always verified (`codegen_hook.security.tls`). Flavour probes and Ollama's native
endpoint live on the same host as `openai_base_url`, so they pass the same check.

How a request's plan (one (temperature, seed) per text) is sent depends on the server:

- `openai` and `vllm` implement `n`: one request per distinct *sampled* temperature
  asks for all its texts with `n` and the group's first seed. Fewer round trips and one
  prompt evaluation, but the seeds of the texts after the first are not individually
  reproducible (vLLM seeds one generator per request and draws all `n` from it). Greedy
  texts (temperature 0) are asked one request each: vLLM has refused `n > 1` under
  greedy sampling, and greedy copies add nothing. A server that answers with fewer
  choices than asked (it ignores `n`, as llama-cpp-python's server does) or refuses
  `n > 1` gets the missing texts as single requests with their own seeds, and from then
  on only single requests.
- `llama-cpp-server` (llama.cpp's llama-server refuses `n > 1`: "Only one completion
  choice is allowed") gets one request per text, `n: 1`, each with its own temperature
  and seed, `openai_parallel` at a time (0: the server's slot count from `/props`, else 4).
- `ollama` gets one request per text on its native `POST /api/chat`, because its
  OpenAI endpoint ignores `options` and so truncates prompts silently at its default
  context: `options.num_ctx` is set from `n_ctx`, with `temperature`, `seed`,
  `num_predict` and `stop`. A prompt that filled the whole window
  (`prompt_eval_count >= num_ctx`) was cut, and raises BackendError.

`openai_flavor: auto` probes the server once, on the first request, with short GETs at
the root of the base URL (the URL less a trailing `/v1`): llama.cpp's `GET /props`
(`default_generation_settings`), Ollama's `GET /api/version`, vLLM's `GET /version`
(`version`). Anything else, or no answer, is plain `openai`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from codegen_hook.backends.base import Backend, Completion, CompletionRequest
from codegen_hook.errors import BackendError, BackendUnavailableError, ConfigError
from codegen_hook.security.tls import (check_transport, client_ssl_context,
                                       explain_tls_failure, is_loopback_host)

__all__ = ["FLAVORS", "OpenAICompatBackend", "check_endpoint_allowed", "is_loopback_host"]

FLAVORS = ("openai", "ollama", "vllm", "llama-cpp-server")
PROBE_TIMEOUT_S = 2.0
AUTO_PARALLEL = 4


def check_endpoint_allowed(url: str, allowed: tuple[str, ...]) -> None:
    """Raise EgressRefusedError unless `url` is loopback or an allowed https host."""
    check_transport(url, allowed)


@dataclass(frozen=True)
class _Job:
    """One HTTP request: the plan positions it fills, at one temperature and seed."""

    indices: tuple[int, ...]
    temperature: float
    seed: int | None


@dataclass
class _Answer:
    texts: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0


class OpenAICompatBackend(Backend):
    name: ClassVar[str] = "openai"
    supports_n: ClassVar[bool] = True

    def __init__(self, base_url: str, model: str, api_key: str = "",
                 allowed_hosts: tuple[str, ...] = (), timeout: float = 300.0,
                 n_ctx: int = 4096, transport: httpx.BaseTransport | None = None,
                 ca_bundle: str = "", client_cert: str = "", client_key: str = "",
                 flavor: str = "auto", parallel: int = 0) -> None:
        check_transport(base_url, allowed_hosts)
        if flavor != "auto" and flavor not in FLAVORS:
            raise ConfigError(f"openai_flavor {flavor!r} is unknown; use auto, "
                              f"{', '.join(FLAVORS)}")
        if parallel < 0:
            raise ConfigError("openai_parallel must be 0 (auto) or a positive number of "
                              "concurrent requests")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.n_ctx = n_ctx
        self.parallel = parallel
        self._flavor: str | None = None if flavor == "auto" else flavor
        self._flavor_lock = threading.Lock()
        self._slots = 0             # llama.cpp's parallel slots, from /props
        self._honours_n = True      # set False once the server answers `n` with fewer
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Built for http too (httpx would build its own anyway), so a wrong TLS file
        # fails here, loudly, not on the day the URL turns https.
        verify = client_ssl_context(ca_bundle, client_cert, client_key)
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport,
                                    trust_env=False, verify=verify)

    def describe(self) -> str:
        return f"openai:{self.model}@{self.base_url}"

    @property
    def root_url(self) -> str:
        """The server's root: the base URL less a trailing `/v1`."""
        return self.base_url.removesuffix("/v1")

    # -- flavour ------------------------------------------------------------------

    @property
    def flavor(self) -> str:
        """The server's flavour: as configured, or detected once (`auto`)."""
        with self._flavor_lock:
            if self._flavor is None:
                self._flavor = self._detect()
            return self._flavor

    def _detect(self) -> str:
        props = self._probe("/props")
        if props is not None and isinstance(props.get("default_generation_settings"), dict):
            slots = props.get("total_slots")
            self._slots = slots if isinstance(slots, int) and slots > 0 else 0
            return "llama-cpp-server"
        ollama = self._probe("/api/version")
        if ollama is not None and isinstance(ollama.get("version"), str):
            return "ollama"
        vllm = self._probe("/version")
        if vllm is not None and isinstance(vllm.get("version"), str):
            return "vllm"
        return "openai"

    def _probe(self, path: str) -> dict[str, Any] | None:
        """GET root + path with a short timeout; None for anything but a JSON object."""
        try:
            response = self._client.get(self.root_url + path, timeout=PROBE_TIMEOUT_S)
            body = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    # -- completing a plan --------------------------------------------------------

    def complete(self, request: CompletionRequest) -> Completion:
        plan = request.plan()
        start = time.perf_counter()
        flavor = self.flavor if plan else "openai"
        texts: list[str | None] = [None] * len(plan)
        answers: list[_Answer] = []

        def place(job: _Job, answer: _Answer) -> None:
            answers.append(answer)
            for index, text in zip(job.indices, answer.texts):
                texts[index] = text

        if flavor == "ollama":
            jobs = _singles(plan, range(len(plan)))
            for job, answer in zip(jobs, self._run(jobs, lambda j: self._ollama(j, request))):
                place(job, answer)
        else:
            grouped = flavor != "llama-cpp-server" and self._honours_n
            jobs = _grouped(plan) if grouped else _singles(plan, range(len(plan)))
            asked = self._run(jobs, lambda j: self._openai(j, request, fallback=grouped))
            for job, answer in zip(jobs, asked):
                place(job, answer)
            missing = [i for i, text in enumerate(texts) if text is None]
            if missing:  # the server ignores `n`: one request per missing text, own seed
                retry = _singles(plan, missing)
                for job, answer in zip(retry, self._run(
                        retry, lambda j: self._openai(j, request, fallback=False))):
                    place(job, answer)
                self._honours_n = False
        return Completion(texts=[text or "" for text in texts], model=self.describe(),
                          prompt_tokens=sum(a.prompt_tokens for a in answers),
                          completion_tokens=sum(a.completion_tokens for a in answers),
                          seconds=time.perf_counter() - start)

    def _width(self, jobs: int) -> int:
        width = self.parallel or self._slots or AUTO_PARALLEL
        return max(1, min(width, jobs))

    def _run(self, jobs: Sequence[_Job], send: Callable[[_Job], _Answer]) -> list[_Answer]:
        """Send `jobs`, `_width` at a time; answers in job order, the first error raised."""
        width = self._width(len(jobs))
        if width == 1:
            return [send(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=width,
                                thread_name_prefix="codegen-hook-openai") as pool:
            futures = [pool.submit(send, job) for job in jobs]
            try:
                return [future.result() for future in futures]
            finally:
                for future in futures:
                    future.cancel()

    def _openai(self, job: _Job, request: CompletionRequest, fallback: bool) -> _Answer:
        """POST /chat/completions for `job`; with `fallback`, a refused `n > 1` yields
        no texts (the caller asks again one by one) instead of an error."""
        payload: dict[str, Any] = {
            "model": self.model, "messages": _messages(request),
            "temperature": job.temperature, "max_tokens": request.max_tokens,
            "n": len(job.indices),
        }
        if request.stop:
            payload["stop"] = list(request.stop)
        if job.seed is not None:
            payload["seed"] = job.seed
        try:
            body = self._post(f"{self.base_url}/chat/completions", payload)
        except BackendUnavailableError:
            raise
        except BackendError:
            if fallback and len(job.indices) > 1:
                return _Answer(texts=[])
            raise
        answer = _choices(body)
        answer.texts = answer.texts[:len(job.indices)]
        return answer

    def _ollama(self, job: _Job, request: CompletionRequest) -> _Answer:
        """POST Ollama's native /api/chat: the only place `num_ctx` is honoured."""
        options: dict[str, Any] = {"num_ctx": self.n_ctx, "temperature": job.temperature,
                                   "num_predict": request.max_tokens}
        if job.seed is not None:
            options["seed"] = job.seed
        if request.stop:
            options["stop"] = list(request.stop)
        body = self._post(f"{self.root_url}/api/chat", {
            "model": self.model, "messages": _messages(request), "stream": False,
            "options": options})
        message = body.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise BackendError(f"Ollama's answer at {self.root_url}/api/chat has no "
                               "message.content; check the model name and the server log")
        prompt_tokens = _count(body.get("prompt_eval_count"))
        if prompt_tokens >= self.n_ctx:
            raise BackendError(
                f"the prompt filled Ollama's whole context window ({prompt_tokens} tokens, "
                f"num_ctx {self.n_ctx}), so Ollama cut it and the answer cannot be trusted; "
                "raise n_ctx (e.g. n_ctx = 8192 in [tool.codegen-hook] or "
                "CODEGEN_HOOK_N_CTX=8192) or lower context_tokens")
        return _Answer([content], prompt_tokens, _count(body.get("eval_count")))

    def _post(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._client.post(url, json=payload)
        except httpx.TransportError as exc:
            advice = explain_tls_failure(exc, self.base_url)
            if advice:
                raise BackendUnavailableError(advice) from exc
            raise BackendUnavailableError(
                f"cannot reach the model server at {self.base_url} ({exc}); start it "
                "(e.g. `ollama serve`) or fix openai_base_url") from exc
        if response.status_code >= 400:
            raise BackendError(f"model server answered {response.status_code} at {url}: "
                               f"{response.text[:300]}; check openai_model (for Ollama: "
                               "`ollama pull` it) and the server log")
        try:
            body = response.json()
            if not isinstance(body, dict):
                raise ValueError("not an object")
            return body
        except ValueError as exc:
            raise BackendError(f"model server at {url} sent something that is not JSON; "
                               "is openai_base_url the /v1 root?") from exc


def _messages(request: CompletionRequest) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in request.messages]


def _singles(plan: Sequence[tuple[float, int | None]], indices: Sequence[int]) -> list[_Job]:
    return [_Job((i,), plan[i][0], plan[i][1]) for i in indices]


def _grouped(plan: Sequence[tuple[float, int | None]]) -> list[_Job]:
    """One job per distinct sampled temperature (first seed of the group); greedy alone."""
    groups: dict[float | int, list[int]] = {}  # greedy texts keyed by their index
    for index, (temperature, _) in enumerate(plan):
        key: float | int = temperature if temperature > 0.0 else -1 - index
        groups.setdefault(key, []).append(index)
    return [_Job(tuple(indices), plan[indices[0]][0], plan[indices[0]][1])
            for indices in groups.values()]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _choices(body: dict[str, Any]) -> _Answer:
    try:
        texts = [str(choice["message"]["content"] or "") for choice in body["choices"]]
        usage = body.get("usage") or {}
    except (KeyError, TypeError) as exc:
        raise BackendError(f"model server answer has no choices[].message.content "
                           f"({exc}); is it OpenAI-compatible?") from exc
    if not texts:
        raise BackendError("model server answered with no choices; check the model "
                           "name and the server log")
    if not isinstance(usage, dict):
        usage = {}
    return _Answer(texts, _count(usage.get("prompt_tokens")),
                   _count(usage.get("completion_tokens")))
