"""TLS for connections that leave loopback, tried against a real local TLS server.

A test CA signs the server and client certificates (made with `cryptography` under a
temp dir). The server listens on 127.0.0.1 and is reached as https://localhost, so
the egress guard, installed or not, has nothing to refuse: what is under test is
certificate verification. The "remote over plain http" rule is tested without
connecting at all.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from codegen_hook.backends import make_backend
from codegen_hook.backends.base import CompletionRequest, Message
from codegen_hook.backends.openai_http import OpenAICompatBackend
from codegen_hook.config import Settings
from codegen_hook.errors import BackendUnavailableError, ConfigError, EgressRefusedError
from codegen_hook.security.tls import check_transport, client_ssl_context

# -- a test PKI ---------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: Path                # the test CA, PEM: what ca_bundle points at
    server: Issued          # localhost + 127.0.0.1
    wrong_name: Issued      # only other.example
    client: Issued          # clientAuth, signed by the test CA
    client_combined: Path   # the client's certificate and key in one file
    stranger: Issued        # a client certificate from a CA nobody trusts


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


class _Ca:
    def __init__(self, common_name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(common_name)
        self.cert = self._builder(self.name, self.key.public_key()).add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True,
        ).add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True,
        ).sign(self.key, hashes.SHA256())

    def _builder(self, subject: x509.Name, public: Any) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.timezone.utc)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(self.name)
                .public_key(public).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public),
                               critical=False))

    def issue(self, folder: Path, stem: str, dns: list[str], ips: tuple[str, ...] = (),
              usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.SERVER_AUTH) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = self._builder(_name(stem), key.public_key())
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True,
        ).add_extension(x509.ExtendedKeyUsage([usage]), critical=False).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
            critical=False,
        ).sign(self.key, hashes.SHA256())
        cert_path = folder / f"{stem}.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return Issued(cert_path, _write_key(key, folder / f"{stem}.key"))

    def write(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, stranger_ca = _Ca("codegen-hook test CA"), _Ca("nobody trusts me")
    client = ca.issue(folder, "client", ["alice"], usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    combined = folder / "client-combined.pem"
    combined.write_bytes(client.cert.read_bytes() + client.key.read_bytes())
    return Pki(
        ca=ca.write(folder / "ca.pem"),
        server=ca.issue(folder, "server", ["localhost"], ("127.0.0.1",)),
        wrong_name=ca.issue(folder, "wrong", ["other.example"]),
        client=client, client_combined=combined,
        stranger=stranger_ca.issue(folder, "stranger", ["mallory"],
                                   usage=ExtendedKeyUsageOID.CLIENT_AUTH))


# -- a local TLS server speaking enough of the OpenAI API ---------------------------


def _chat_body(text: str) -> bytes:
    return json.dumps({
        "object": "chat.completion", "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }).encode()


def _common_name(cert: Any) -> str:
    """The CN in the dict form `getpeercert()` and `get_ca_certs()` return."""
    return next((value for rdn in cert["subject"] for key, value in rdn
                 if key == "commonName"), "")


class _Handler(BaseHTTPRequestHandler):
    server: "_TLSServer"

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/v1/models":
            self._send(200, json.dumps({"data": [{"id": "test-model"}]}).encode())
        else:
            self._send(404, b'{"error": "no such route"}')

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/chat/completions":
            self._send(404, b'{"error": "no such route"}')
            return
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) \
            else None
        name = _common_name(peer) if peer else "anonymous"
        self._send(200, _chat_body(f"hello {name}"))

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.handshake_errors: list[Exception] = []

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs in the request's own thread, not in the accept loop.
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except OSError as exc:
            self.handshake_errors.append(exc)
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


@contextmanager
def serve_tls(issued: Issued, client_ca: Path | None = None) -> Iterator[_TLSServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert, issued.key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=client_ca)
    httpd = _TLSServer(context)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def url_of(server: _TLSServer, host: str = "localhost") -> str:
    return f"https://{host}:{server.server_address[1]}/v1"


def ask(backend: OpenAICompatBackend) -> str:
    request = CompletionRequest((Message("user", "Fill the stub."),), max_tokens=8)
    [text] = backend.complete(request).texts
    return text


# -- (a) the test CA in ca_bundle: verified, and it works ---------------------------


def test_server_signed_by_the_bundle_ca_works(pki: Pki) -> None:
    with serve_tls(pki.server) as server:
        backend = OpenAICompatBackend(url_of(server), "m", ca_bundle=str(pki.ca))
        assert ask(backend) == "hello anonymous"
        # 127.0.0.1 is in the certificate too, as an IP SAN
        by_ip = OpenAICompatBackend(url_of(server, "127.0.0.1"), "m", ca_bundle=str(pki.ca))
        assert ask(by_ip) == "hello anonymous"
    assert server.handshake_errors == []


def test_the_context_serves_a_plain_httpx_client_too(pki: Pki) -> None:
    """What the forge client will do: its own httpx client, the same context."""
    with serve_tls(pki.server) as server:
        context = client_ssl_context(ca_bundle=str(pki.ca))
        with httpx.Client(verify=context, trust_env=False) as client:
            answer = client.get(url_of(server) + "/models")
    assert answer.status_code == 200
    assert answer.json()["data"][0]["id"] == "test-model"


def test_make_backend_passes_the_tls_settings_through(pki: Pki, tmp_path: Path) -> None:
    with serve_tls(pki.server, client_ca=pki.ca) as server:
        settings = Settings(backend="openai", openai_base_url=url_of(server),
                            ca_bundle=str(pki.ca), client_cert=str(pki.client.cert),
                            client_key=str(pki.client.key))
        backend = make_backend(settings, tmp_path / "data")
        assert isinstance(backend, OpenAICompatBackend)
        assert ask(backend) == "hello client"
    with pytest.raises(ConfigError, match="ca_bundle"):
        make_backend(Settings(backend="openai", ca_bundle=str(tmp_path / "none.pem")),
                     tmp_path / "data")


# -- (b) no bundle: the test CA is unknown, so nothing is sent ----------------------


def test_unknown_ca_is_refused_with_advice(pki: Pki) -> None:
    with serve_tls(pki.server) as server:
        backend = OpenAICompatBackend(url_of(server), "m")
        with pytest.raises(BackendUnavailableError) as caught:
            ask(backend)
    message = str(caught.value)
    assert "certificate verification failed" in message
    assert "--ca-bundle" in message and "ca_bundle" in message
    assert "start it" not in message  # not the "server is down" advice
    assert server.handshake_errors  # the client hung up during the handshake


def test_bundle_ca_is_trusted_in_addition_to_the_system_cas(pki: Pki) -> None:
    system_only = client_ssl_context()
    with_bundle = client_ssl_context(ca_bundle=str(pki.ca))
    before = system_only.cert_store_stats()["x509_ca"]
    assert with_bundle.cert_store_stats()["x509_ca"] == before + 1
    names = [_common_name(ca) for ca in with_bundle.get_ca_certs()]
    assert "codegen-hook test CA" in names


def test_verification_is_always_on() -> None:
    context = client_ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


# -- (c) a server that requires a client certificate --------------------------------


@pytest.mark.parametrize("combined", [False, True], ids=["cert+key", "one-file"])
def test_client_certificate_is_presented(pki: Pki, combined: bool) -> None:
    cert, key = (pki.client_combined, "") if combined else (pki.client.cert, pki.client.key)
    with serve_tls(pki.server, client_ca=pki.ca) as server:
        backend = OpenAICompatBackend(url_of(server), "m", ca_bundle=str(pki.ca),
                                      client_cert=str(cert), client_key=str(key))
        assert ask(backend) == "hello client"


def test_missing_client_certificate_is_refused_with_advice(pki: Pki) -> None:
    with serve_tls(pki.server, client_ca=pki.ca) as server:
        backend = OpenAICompatBackend(url_of(server), "m", ca_bundle=str(pki.ca))
        with pytest.raises(BackendUnavailableError, match="--client-cert") as caught:
            ask(backend)
    assert "client certificate" in str(caught.value)


def test_client_certificate_from_an_untrusted_ca_is_refused(pki: Pki) -> None:
    with serve_tls(pki.server, client_ca=pki.ca) as server:
        backend = OpenAICompatBackend(url_of(server), "m", ca_bundle=str(pki.ca),
                                      client_cert=str(pki.stranger.cert),
                                      client_key=str(pki.stranger.key))
        with pytest.raises(BackendUnavailableError, match="--client-cert"):
            ask(backend)


# -- (d) a valid certificate for another name ---------------------------------------


def test_certificate_for_another_host_is_refused(pki: Pki) -> None:
    with serve_tls(pki.wrong_name) as server:
        backend = OpenAICompatBackend(url_of(server), "m", ca_bundle=str(pki.ca))
        with pytest.raises(BackendUnavailableError) as caught:
            ask(backend)
    message = str(caught.value)
    assert "certificate verification failed" in message
    assert "localhost" in message and "host name" in message


# -- (e) the transport rule, checked before any connection --------------------------


def _no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args))
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_allowed_remote_host_over_plain_http_is_refused_before_connecting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = _no_network(monkeypatch)
    with pytest.raises(EgressRefusedError) as caught:
        OpenAICompatBackend("http://10.1.2.3/v1", "m", allowed_hosts=("10.1.2.3",))
    message = str(caught.value)
    assert "must use https" in message and "https://10.1.2.3/v1" in message
    assert "--allow-remote-host" in message
    assert attempts == []


def test_remote_http_that_is_not_allowed_names_both_fixes() -> None:
    with pytest.raises(EgressRefusedError) as caught:
        check_transport("http://gpu.corp.example:8000/v1", ())
    message = str(caught.value)
    assert "--allow-remote-host gpu.corp.example" in message and "https://" in message


@pytest.mark.parametrize("url", ["http://127.0.0.1:11434/v1", "http://localhost/v1",
                                 "http://[::1]:8000/v1", "https://localhost/v1"])
def test_loopback_may_use_plain_http(url: str) -> None:
    check_transport(url, ())


def test_allowed_remote_host_over_https_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = _no_network(monkeypatch)
    check_transport("https://10.1.2.3/v1", ["10.1.2.3"])
    backend = OpenAICompatBackend("https://10.1.2.3/v1", "m", allowed_hosts=("10.1.2.3",))
    assert backend.base_url == "https://10.1.2.3/v1"
    assert attempts == []  # building a backend connects to nothing


# -- (f) TLS files that are wrong: ConfigError naming the setting -------------------


def test_missing_ca_bundle(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ca_bundle .*no such file.*--ca-bundle"):
        client_ssl_context(ca_bundle=str(tmp_path / "corp-ca.pem"))


def test_ca_bundle_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ca_bundle .*cannot be read"):
        client_ssl_context(ca_bundle=str(tmp_path))  # a directory


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_ca_bundle_without_read_permission(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    bundle.chmod(0)
    with pytest.raises(ConfigError, match="ca_bundle .*cannot be read"):
        client_ssl_context(ca_bundle=str(bundle))


@pytest.mark.parametrize("content", [
    b"this is not a certificate\n",
    b"\x30\x82\x01\x0a\x02\x82",  # the start of DER
    b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
], ids=["text", "der", "bad-base64"])
def test_ca_bundle_that_is_not_pem(tmp_path: Path, content: bytes) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(content)
    with pytest.raises(ConfigError, match="ca_bundle") as caught:
        client_ssl_context(ca_bundle=str(bundle))
    assert "--ca-bundle" in str(caught.value)


def test_ca_bundle_holding_only_a_key(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="ca_bundle .*no PEM certificate"):
        client_ssl_context(ca_bundle=str(pki.client.key))


def test_client_key_that_does_not_match(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="client_key does not belong to client_cert"):
        client_ssl_context(client_cert=str(pki.client.cert), client_key=str(pki.server.key))


def test_client_cert_without_its_key(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="client_cert .*--client-key"):
        client_ssl_context(client_cert=str(pki.client.cert))


def test_client_key_without_client_cert(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="client_cert is not"):
        client_ssl_context(client_key=str(pki.client.key))


def test_missing_client_files(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="client_cert .*no such file.*--client-cert"):
        client_ssl_context(client_cert=str(tmp_path / "me.pem"))
    with pytest.raises(ConfigError, match="client_key .*no such file.*--client-key"):
        client_ssl_context(client_cert=str(pki.client.cert),
                           client_key=str(tmp_path / "me.key"))


def test_garbage_client_key(pki: Pki, tmp_path: Path) -> None:
    key = tmp_path / "me.key"
    key.write_text("hunter2\n")
    with pytest.raises(ConfigError, match="client_key .*no PEM"):
        client_ssl_context(client_cert=str(pki.client.cert), client_key=str(key))


def test_encrypted_client_key_fails_instead_of_prompting(pki: Pki, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki.client.key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(ConfigError, match="client_key holds an encrypted private key"):
        client_ssl_context(client_cert=str(pki.client.cert), client_key=str(encrypted))


def test_backend_reports_bad_tls_files_when_built(tmp_path: Path) -> None:
    """Even for loopback http: a wrong path fails now, not when the URL turns https."""
    with pytest.raises(ConfigError, match="client_cert"):
        OpenAICompatBackend("http://127.0.0.1:11434/v1", "m",
                            client_cert=str(tmp_path / "nope.pem"))
