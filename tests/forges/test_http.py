"""JsonClient against a loopback server: retries, rate limits, pagination, clean errors."""

from __future__ import annotations

import socket
from email.utils import formatdate
from typing import Any

import pytest

from codegen_hook.errors import ConfigError, ForgeError
from codegen_hook.forges.http import ForgeRequestError, HttpOptions, JsonClient
from tests.forges.servers import ApiServer, Reply

TOKEN = "ghp_s3cretT0ken"
HINTS = {401: "fix the token", 403: "give the token write access", 500: "re-run later"}


def client(url: str, options: HttpOptions, **kwargs: Any) -> JsonClient:
    return JsonClient(url, service="Forge", auth_header=("Authorization", f"Bearer {TOKEN}"),
                      token=TOKEN, hints=HINTS, options=options, **kwargs)


def ok(body: Any = None, **headers: str) -> Reply:
    return Reply(200, {"ok": True} if body is None else body, headers)


def test_a_502_is_retried_with_backoff_then_the_answer_is_returned(
        server: ApiServer, options: HttpOptions, slept: list[float]) -> None:
    server.queue("GET", "/thing", Reply(502, {"message": "Bad Gateway"}),
                 Reply(502, {"message": "Bad Gateway"}), ok({"id": 1}))
    assert client(server.url, options).get("/thing") == {"id": 1}
    assert slept == [1.0, 2.0]
    assert len(server.calls("GET", "/thing")) == 3
    assert server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert server.requests[0].headers["User-Agent"] == "codegen-hook"


def test_429_waits_as_long_as_retry_after_says(server: ApiServer, options: HttpOptions,
                                               slept: list[float]) -> None:
    server.queue("POST", "/thing", Reply(429, {"message": "Too Many Requests"},
                                         {"Retry-After": "7"}), ok())
    assert client(server.url, options).post("/thing", {"a": 1}) == {"ok": True}
    assert slept == [7.0]
    assert [r.body for r in server.calls("POST", "/thing")] == [{"a": 1}, {"a": 1}]


def test_retry_after_may_be_an_http_date(server: ApiServer, slept: list[float]) -> None:
    now = 1_700_000_000.0
    options = HttpOptions(retries=2, sleep=slept.append, clock=lambda: now)
    server.queue("GET", "/thing", Reply(503, {}, {"Retry-After": formatdate(now + 30,
                                                                            usegmt=True)}),
                 ok())
    client(server.url, options).get("/thing")
    assert slept == [30.0]


def test_an_exhausted_github_rate_limit_waits_until_its_reset(
        server: ApiServer, options: HttpOptions, slept: list[float]) -> None:
    limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(1_000_000 + 41)}
    server.queue("GET", "/thing", Reply(403, {"message": "API rate limit exceeded for "
                                              "installation ID 1."}, limited), ok())
    client(server.url, options).get("/thing")
    assert slept == [42.0]


def test_a_secondary_rate_limit_403_waits_at_least_a_minute(
        server: ApiServer, options: HttpOptions, slept: list[float]) -> None:
    server.queue("POST", "/thing", Reply(403, {
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                   "before you try again."}), ok())
    client(server.url, options).post("/thing", {})
    assert slept == [60.0]


def test_a_rate_limit_longer_than_max_wait_gives_up_at_once_saying_when(
        server: ApiServer, options: HttpOptions, slept: list[float]) -> None:
    server.queue("GET", "/thing", Reply(429, {"message": "slow down"}, {"Retry-After": "3600"}))
    with pytest.raises(ForgeError, match=r"GET /thing: 429, rate limited: slow down; the "
                                         r"limit lifts in 3600 s.*Re-run the job after that"):
        client(server.url, options).get("/thing")
    assert slept == []


def test_a_permission_403_is_not_retried_and_says_what_to_do(
        server: ApiServer, options: HttpOptions, slept: list[float]) -> None:
    server.queue("POST", "/thing", Reply(403, {"message": "Resource not accessible by "
                                                          "integration"}))
    with pytest.raises(ForgeRequestError) as caught:
        client(server.url, options).post("/thing", {})
    assert str(caught.value) == ("Forge API POST /thing failed: 403 Forbidden: Resource not "
                                 "accessible by integration; give the token write access")
    assert caught.value.status == 403 and slept == []


def test_giving_up_after_the_retries_names_the_endpoint_status_and_attempts(
        server: ApiServer, options: HttpOptions, slept: list[float]) -> None:
    server.queue("GET", "/thing", *[Reply(500, {"message": "Server Error"})] * 4)
    with pytest.raises(ForgeError, match=r"^Forge API GET /thing failed: 500 Internal Server "
                                         r"Error: Server Error \(gave up after 4 attempts\); "
                                         r"re-run later$"):
        client(server.url, options).get("/thing")
    assert slept == [1.0, 2.0, 4.0]


def test_a_post_is_not_resent_after_an_error_the_server_may_have_acted_on(
        server: ApiServer, options: HttpOptions, slept: list[float]) -> None:
    server.queue("POST", "/thing", Reply(500, {"message": "Server Error"}), ok())
    with pytest.raises(ForgeRequestError) as caught:
        client(server.url, options).post("/thing", {"body": "x"})
    assert caught.value.status == 500 and slept == []
    assert len(server.calls("POST", "/thing")) == 1


def test_a_refused_connection_is_retried_then_named(options: HttpOptions,
                                                    slept: list[float]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ForgeError, match=r"GET /thing failed after 4 attempts: no answer from "
                                         rf"http://127.0.0.1:{port}"):
        client(f"http://127.0.0.1:{port}", options).get("/thing")
    assert slept == [1.0, 2.0, 4.0]


def test_the_token_never_appears_in_an_error(server: ApiServer, options: HttpOptions) -> None:
    server.queue("GET", "/thing", Reply(401, {"message": f"Bad credentials: Bearer {TOKEN}"}))
    with pytest.raises(ForgeError) as caught:
        client(server.url, options).get("/thing")
    assert TOKEN not in str(caught.value)
    assert "Bad credentials: Bearer ***" in str(caught.value) and "fix the token" in str(
        caught.value)
    assert TOKEN not in repr(client(server.url, options))


def test_an_answer_that_is_not_json_says_to_check_the_api_url(
        server: ApiServer, options: HttpOptions) -> None:
    server.queue("GET", "/thing", Reply(200, raw=b"<html>login</html>"))
    with pytest.raises(ForgeError, match=r"not JSON; is http://127.0.0.1:\d+ the API root"):
        client(server.url, options).get("/thing")


def test_a_redirect_is_not_followed(server: ApiServer, options: HttpOptions) -> None:
    server.queue("GET", "/thing", Reply(301, {"message": "Moved Permanently"},
                                        {"Location": "https://elsewhere.example/thing"}))
    with pytest.raises(ForgeError, match="301 Moved Permanently.*redirect to "
                                         "https://elsewhere.example/thing"):
        client(server.url, options).get("/thing")
    assert len(server.requests) == 1


def test_github_pagination_follows_link_next(server: ApiServer, options: HttpOptions) -> None:
    url = server.url
    server.queue("GET", "/items",
                 ok([1, 2], Link=f'<{url}/items?per_page=2&page=2>; rel="next", '
                                 f'<{url}/items?per_page=2&page=3>; rel="last"'),
                 ok([3, 4], Link=f'<{url}/items?per_page=2&page=3>; rel="next"'),
                 ok([5]))
    assert list(client(url, options).pages("/items", {"per_page": 2})) == [1, 2, 3, 4, 5]
    assert [r.query for r in server.calls("GET", "/items")] == [
        {"per_page": "2"}, {"per_page": "2", "page": "2"}, {"per_page": "2", "page": "3"}]


def test_gitlab_pagination_follows_x_next_page(server: ApiServer, options: HttpOptions) -> None:
    server.queue("GET", "/items", ok(["a"], **{"x-next-page": "2"}),
                 ok(["b"], **{"x-next-page": "3"}), ok(["c"], **{"x-next-page": ""}))
    assert list(client(server.url, options).pages("/items", {"per_page": 1})) == ["a", "b", "c"]
    assert [r.query.get("page") for r in server.calls("GET", "/items")] == [None, "2", "3"]


def test_a_next_link_to_another_host_is_refused(server: ApiServer, options: HttpOptions) -> None:
    server.queue("GET", "/items", ok([1], Link='<https://evil.example/items?page=2>; '
                                               'rel="next"'))
    with pytest.raises(ForgeError, match="to another host.*would carry the token there"):
        list(client(server.url, options).pages("/items"))
    assert len(server.requests) == 1


def test_https_is_required_off_loopback() -> None:
    with pytest.raises(ConfigError, match=r"must use https.*Fix GITHUB_API_URL"):
        JsonClient("http://github.example.com/api/v3", service="GitHub",
                   auth_header=("Authorization", "Bearer t"), token="t", hints={},
                   url_setting="GITHUB_API_URL")
    JsonClient("https://github.example.com/api/v3", service="GitHub",
               auth_header=("Authorization", "Bearer t"), token="t", hints={})
    JsonClient("http://localhost:8080", service="GitHub",
               auth_header=("Authorization", "Bearer t"), token="t", hints={})


def test_a_rate_limit_that_outlasts_the_retries_says_so(
        server: ApiServer, options: HttpOptions, slept: list[float]) -> None:
    server.queue("GET", "/thing", *[Reply(429, {"message": "slow down"},
                                          {"Retry-After": "2"})] * 4)
    with pytest.raises(ForgeError, match=r"429 Too Many Requests: slow down \(gave up after 4 "
                                         r"attempts\); Forge is rate limiting this token"):
        client(server.url, options).get("/thing")
    assert slept == [2.0, 2.0, 2.0]
