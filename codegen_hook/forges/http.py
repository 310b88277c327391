"""A small JSON client for forge APIs, over plain httpx.

Why not PyGithub / python-gitlab: the bot calls about six endpoints per forge, and one
client that we control is where the egress and TLS rules apply. Every request goes to
one base URL; https is required unless the host is loopback, and https is verified with
`security.tls.client_ssl_context` (system CAs plus the user's `ca_bundle`, client
certificates). Redirects are not followed and a pagination link to another origin is
refused, so the token is only ever sent to the configured host.

Retries: connection failures, 429, 5xx and GitHub's rate-limit 403 are retried with
exponential backoff. A server's `Retry-After` (seconds or an HTTP date) wins; an
exhausted primary limit (`x-ratelimit-remaining: 0`) waits for `x-ratelimit-reset`; a
secondary-rate-limit 403 without either waits at least a minute, as GitHub asks. A
wait longer than `max_wait` is not slept: the error says when to re-run. A POST is
only retried where the server cannot have acted on it (429, rate-limit 403, 502, 503,
a failed connect), so a retry does not post the same comment twice.

Errors are `ForgeRequestError` (a ForgeError) naming the request, the status, the API's
own message and what to do; the token is replaced by `***` wherever it could appear.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from codegen_hook.errors import ConfigError, ForgeError
from codegen_hook.security.tls import client_ssl_context, explain_tls_failure, is_loopback_host

__all__ = ["ForgeRequestError", "HttpOptions", "JsonClient", "api_message", "expect"]

T = TypeVar("T")

SECONDARY_LIMIT_WAIT_S = 60.0   # GitHub: "wait for at least one minute before retrying"
MAX_PAGES = 1000
# Failures where the server did not act on the request, so even a POST may be resent.
_UNPROCESSED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ForgeRequestError(ForgeError):
    """A forge API request failed; `status` is the HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None, api_said: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.api_said = api_said


@dataclass(frozen=True)
class HttpOptions:
    """How a forge client connects and retries; the defaults suit a CI job."""

    timeout: float = 30.0
    retries: int = 4                  # attempts after the first
    backoff: float = 1.0              # seconds before the first retry, doubled each time
    max_wait: float = 120.0           # the longest single wait; longer ones give up
    ca_bundle: str = ""
    client_cert: str = ""
    client_key: str = ""
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time


class JsonClient:
    """JSON over HTTP to one forge API root, with retries, pagination and clean errors.

    `service` names the forge in messages ("GitHub"); `hints` maps a status to what the
    user should do about it; `token` is only used to keep it out of every message.
    """

    def __init__(self, base_url: str, *, service: str, auth_header: tuple[str, str],
                 token: str, hints: Mapping[int, str], headers: Mapping[str, str] | None = None,
                 url_setting: str = "the API URL", options: HttpOptions = HttpOptions()
                 ) -> None:
        self.base_url = base_url.rstrip("/")
        self.service = service
        self._token = token
        self._hints = dict(hints)
        self._options = options
        self._origin = _origin(self.base_url)
        _check_url(self.base_url, service, url_setting)
        verify = client_ssl_context(options.ca_bundle, options.client_cert,
                                    options.client_key)
        all_headers = {"User-Agent": "codegen-hook", "Accept": "application/json"}
        all_headers.update(headers or {})
        all_headers[auth_header[0]] = auth_header[1]
        self._client = httpx.Client(
            headers=all_headers, verify=verify, trust_env=False, follow_redirects=False,
            transport=options.transport,
            timeout=httpx.Timeout(options.timeout, connect=min(10.0, options.timeout)))

    def __repr__(self) -> str:
        return f"JsonClient({self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    # -- requests -------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return _json(self._request("GET", self.url(path), params=params), self, path)

    def post(self, path: str, body: Any) -> Any:
        return _json(self._request("POST", self.url(path), body=body), self, path)

    def patch(self, path: str, body: Any) -> Any:
        return _json(self._request("PATCH", self.url(path), body=body), self, path)

    def put(self, path: str, body: Any) -> Any:
        return _json(self._request("PUT", self.url(path), body=body), self, path)

    def pages(self, path: str, params: Mapping[str, str | int] | None = None
              ) -> Iterator[Any]:
        """Every item of a paginated list: GitHub's `Link: rel="next"`, else GitLab's
        `x-next-page`. A next link must stay on the API's origin (it carries the token)."""
        url = self.url(path)
        query: dict[str, str | int] = dict(params or {})
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            response = self._request("GET", url, params=query)
            items = _json(response, self, path)
            if not isinstance(items, list):
                raise ForgeRequestError(
                    f"{self.service} answered GET {path} with {type(items).__name__}, not a "
                    f"list; is {self.base_url} the API root?", response.status_code)
            yield from items
            following = self._next_page(response, url, query, path)
            if following is None:
                return
            url, query = following
            key = url + json.dumps(query, sort_keys=True)
            if key in seen:
                return
            seen.add(key)
        raise ForgeRequestError(f"{self.service} kept paginating GET {path} past {MAX_PAGES} "
                                "pages; this looks like a server bug, re-run the job")

    def url(self, path: str) -> str:
        return self.base_url + path

    def _next_page(self, response: httpx.Response, url: str, query: dict[str, str | int],
                   path: str) -> tuple[str, dict[str, str | int]] | None:
        link = response.links.get("next", {}).get("url")
        if link:
            if _origin(link) != self._origin:
                raise ForgeRequestError(
                    f"{self.service} sent a next-page link for GET {path} to another host "
                    f"({_origin(link)}); refused, as it would carry the token there. Check "
                    "that the API URL is the forge's own address")
            return link, {}
        next_page = response.headers.get("x-next-page", "").strip()
        if next_page:
            return url, {**query, "page": next_page}
        return None

    # -- sending and retrying -------------------------------------------------------

    def _request(self, method: str, url: str, *, params: Mapping[str, str | int] | None = None,
                 body: Any = None) -> httpx.Response:
        endpoint = f"{method} {urlsplit(url).path}"
        attempt = 0
        while True:
            try:
                response = self._client.request(method, url, params=params or None, json=body)
            except httpx.TransportError as exc:
                wait = self._transport_wait(method, endpoint, exc, attempt)
            else:
                if 200 <= response.status_code < 300:
                    return response
                wait = self._status_wait(method, endpoint, response, attempt)
            self._options.sleep(wait)
            attempt += 1

    def _transport_wait(self, method: str, endpoint: str, exc: httpx.TransportError,
                        attempt: int) -> float:
        advice = explain_tls_failure(exc, self.base_url)
        if advice:
            raise ForgeRequestError(self._redact(advice)) from None
        retryable = method in _IDEMPOTENT or isinstance(exc, _UNPROCESSED)
        if not retryable or attempt >= self._options.retries:
            tries = f" after {attempt + 1} attempts" if attempt else ""
            raise ForgeRequestError(self._redact(
                f"{self.service} API {endpoint} failed{tries}: no answer from "
                f"{self.base_url} ({type(exc).__name__}: {exc}); check the API URL and the "
                "network, then re-run the job")) from None
        return self._backoff(attempt)

    def _status_wait(self, method: str, endpoint: str, response: httpx.Response,
                     attempt: int) -> float:
        """Seconds to wait before retrying `response`, or raise the error it means."""
        status = response.status_code
        said = self._redact(api_message(response))
        limited = status == 429 or (status == 403 and _rate_limited(response, said))
        server = status >= 500 and (method in _IDEMPOTENT or status in (502, 503))
        if not (limited or server):
            raise self._error(endpoint, response, said, attempt, limited)
        wait = self._server_wait(response, limited, attempt)
        if not limited:
            wait = min(wait, self._options.max_wait)
        if wait > self._options.max_wait:
            raise ForgeRequestError(
                f"{self.service} API {endpoint}: {status}, rate limited{_colon(said)}; the "
                f"limit lifts in {wait:.0f} s, longer than codegen-hook waits "
                f"({self._options.max_wait:.0f} s). Re-run the job after that, or use a "
                "token with a limit of its own", status, said)
        if attempt >= self._options.retries:
            raise self._error(endpoint, response, said, attempt, limited)
        return wait

    def _server_wait(self, response: httpx.Response, limited: bool, attempt: int) -> float:
        after = _retry_after(response.headers.get("retry-after", ""), self._options.clock)
        if after is not None:
            return after
        if limited and response.headers.get("x-ratelimit-remaining") == "0":
            reset = _number(response.headers.get("x-ratelimit-reset", ""))
            if reset is not None:
                return max(0.0, reset - self._options.clock()) + 1.0
        if limited and response.status_code == 403:
            return max(SECONDARY_LIMIT_WAIT_S, self._backoff(attempt))
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        return float(min(self._options.backoff * 2 ** attempt, self._options.max_wait))

    def _error(self, endpoint: str, response: httpx.Response, said: str, attempt: int,
               limited: bool) -> ForgeRequestError:
        status = response.status_code
        hint = self._hints.get(status) or self._hints.get(status // 100 * 100, "")
        if limited:
            hint = (f"{self.service} is rate limiting this token; re-run the job in a few "
                    "minutes")
        if 300 <= status < 400:
            hint = hint or (f"the API answered with a redirect to "
                            f"{response.headers.get('location', '?')}; use the URL it "
                            "points to")
        tries = f" (gave up after {attempt + 1} attempts)" if attempt else ""
        reason = response.reason_phrase or "error"
        return ForgeRequestError(self._redact(
            f"{self.service} API {endpoint} failed: {status} {reason}{_colon(said)}{tries}"
            f"{'; ' + hint if hint else ''}"), status, said)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def api_message(response: httpx.Response) -> str:
    """The forge's own explanation in an error answer, shortened to one line."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return " ".join(text.split())[:300]
    parts: list[str] = []
    if isinstance(body, dict):
        for key in ("message", "error", "errors"):
            if key in body:
                parts.append(_flatten(body[key]))
    else:
        parts.append(_flatten(body))
    return "; ".join(part for part in parts if part)[:300]


def _flatten(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(_flatten(item) for item in value)
    if isinstance(value, dict):
        if "message" in value:
            return _flatten(value["message"])
        return "; ".join(f"{key} {_flatten(item)}" for key, item in value.items())
    return json.dumps(value)


def _json(response: httpx.Response, client: JsonClient, path: str) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ForgeRequestError(
            f"{client.service} answered {response.request.method} {path} with something "
            f"that is not JSON; is {client.base_url} the API root?",
            response.status_code) from None


def _rate_limited(response: httpx.Response, said: str) -> bool:
    return ("retry-after" in response.headers
            or response.headers.get("x-ratelimit-remaining") == "0"
            or "rate limit" in said.lower())


def _retry_after(value: str, clock: Callable[[], float]) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    value = value.strip()
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - clock())


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _colon(said: str) -> str:
    return f": {said}" if said else ""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _check_url(url: str, service: str, setting: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"{service} API URL {url!r} is not an http(s) URL; fix {setting}")
    if parts.scheme != "https" and not is_loopback_host(host):
        raise ConfigError(
            f"{service} API URL {url!r} must use https: plain http would send the token and "
            f"your code unencrypted. Fix {setting} (only loopback may use http)")


def expect(value: Any, kind: type[T], what: str) -> T:
    """`value` if it is a `kind`; else the ForgeError an unexpected API answer deserves."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ForgeRequestError(f"unexpected API answer: {what} is {type(value).__name__}, not "
                            f"{kind.__name__}; is the API URL the forge's API root?")
