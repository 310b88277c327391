"""An OpenAI-compatible chat endpoint: Ollama, llama.cpp server, vLLM, LM Studio.

Only loopback hosts are allowed unless the user lists a host in
`allow_remote_hosts`; a listed remote host must be reached over https, and https is
always verified (`codegen_hook.security.tls`).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import httpx

from codegen_hook.backends.base import Backend, Completion, CompletionRequest
from codegen_hook.errors import BackendError, BackendUnavailableError
from codegen_hook.security.tls import (check_transport, client_ssl_context,
                                       explain_tls_failure, is_loopback_host)

__all__ = ["OpenAICompatBackend", "check_endpoint_allowed", "is_loopback_host"]


def check_endpoint_allowed(url: str, allowed: tuple[str, ...]) -> None:
    """Raise EgressRefusedError unless `url` is loopback or an allowed https host."""
    check_transport(url, allowed)


class OpenAICompatBackend(Backend):
    name: ClassVar[str] = "openai"
    supports_n: ClassVar[bool] = True

    def __init__(self, base_url: str, model: str, api_key: str = "",
                 allowed_hosts: tuple[str, ...] = (), timeout: float = 300.0,
                 n_ctx: int = 4096, transport: httpx.BaseTransport | None = None,
                 ca_bundle: str = "", client_cert: str = "", client_key: str = "") -> None:
        check_transport(base_url, allowed_hosts)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.n_ctx = n_ctx
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Built for http too (httpx would build its own anyway), so a wrong TLS file
        # fails here, loudly, not on the day the URL turns https.
        verify = client_ssl_context(ca_bundle, client_cert, client_key)
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport,
                                    trust_env=False, verify=verify)

    def describe(self) -> str:
        return f"openai:{self.model}@{self.base_url}"

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/chat/completions"
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
                               f"{response.text[:300]}; check openai_model and the server log")
        try:
            body = response.json()
            if not isinstance(body, dict):
                raise ValueError("not an object")
            return body
        except ValueError as exc:
            raise BackendError(f"model server at {url} sent something that is not JSON; "
                               "is openai_base_url the /v1 root?") from exc

    def complete(self, request: CompletionRequest) -> Completion:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature, "max_tokens": request.max_tokens,
            "n": request.n,
            # Ollama reads its context window from options; its default silently truncates.
            "options": {"num_ctx": self.n_ctx},
        }
        if request.stop:
            payload["stop"] = list(request.stop)
        if request.seed is not None:
            payload["seed"] = request.seed
        start = time.perf_counter()
        texts: list[str] = []
        prompt_tokens = completion_tokens = 0
        while len(texts) < request.n:  # servers that ignore `n` are asked again
            payload["n"] = request.n - len(texts)
            if request.seed is not None:
                payload["seed"] = request.seed + len(texts)
            got, usage = self._choices(self._post(payload))
            texts += got
            prompt_tokens += int(usage.get("prompt_tokens", 0))
            completion_tokens += int(usage.get("completion_tokens", 0))
        return Completion(texts=texts[:request.n], model=self.describe(),
                          prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                          seconds=time.perf_counter() - start)

    @staticmethod
    def _choices(body: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        try:
            texts = [str(choice["message"]["content"] or "") for choice in body["choices"]]
            usage = body.get("usage") or {}
        except (KeyError, TypeError) as exc:
            raise BackendError(f"model server answer has no choices[].message.content "
                               f"({exc}); is it OpenAI-compatible?") from exc
        if not texts:
            raise BackendError("model server answered with no choices; check the model "
                               "name and the server log")
        return texts, usage if isinstance(usage, dict) else {}
