"""Encrypted transport for every connection that leaves loopback.

Two halves, shared by the model backend and (later) the forge client:

- `check_transport(url, allowed_hosts)`: the policy. Loopback may use http or https;
  any other host must be listed (`--allow-remote-host`) and reached over https.
- `client_ssl_context(...)`: the context https is verified with. Verification is
  always on; there is deliberately no setting that turns it off.

`explain_tls_failure` turns a failed handshake into a message that names the fix.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from codegen_hook.errors import ConfigError, EgressRefusedError

__all__ = ["check_transport", "client_ssl_context", "explain_tls_failure", "is_loopback_host"]

_HOSTNAME_MISMATCH = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
# Alerts a server sends when it wanted a client certificate and got none it trusts.
_CLIENT_CERT_ALERTS = ("CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE", "BAD_CERTIFICATE",
                       "UNKNOWN_CA", "CERTIFICATE_UNKNOWN", "ACCESS_DENIED")


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_transport(url: str, allowed_hosts: Iterable[str]) -> None:
    """Raise EgressRefusedError unless `url` is loopback, or an allowed host over https.

    Checked before any connection is made, so a refused URL sends nothing.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise EgressRefusedError(f"endpoint {url!r} is not an http(s) URL; use e.g. "
                                 "http://127.0.0.1:11434/v1 or https://host/v1")
    if is_loopback_host(host):
        return
    if host not in {name.lower() for name in allowed_hosts}:
        https = " and an https:// URL" if parts.scheme != "https" else ""
        raise EgressRefusedError(
            f"endpoint host {host!r} is not on this machine; code would leave it. "
            f"To allow it, pass --allow-remote-host {host}{https} (or set "
            "CODEGEN_HOOK_ALLOW_REMOTE_HOSTS)")
    if parts.scheme != "https":
        raise EgressRefusedError(
            f"remote endpoint {url!r} must use https: plain http would send your code "
            f"unencrypted. Use https://{parts.netloc}{parts.path}; hosts allowed with "
            "--allow-remote-host are reached over https only")


def client_ssl_context(ca_bundle: str = "", client_cert: str = "",
                       client_key: str = "") -> ssl.SSLContext:
    """A client context that always verifies: CERT_REQUIRED, hostname checked, TLS >= 1.2.

    It trusts the system's CAs and, when `ca_bundle` names a PEM file, that file's CAs
    *as well*: an enterprise CA is added to the public ones, not swapped in for them, so
    one setting serves an internal model server and a public forge alike.
    `client_cert` (a PEM certificate chain, which may also hold the key) and
    `client_key` present a client certificate to servers that require one.
    Raises ConfigError, naming the setting, for a file that is missing, unreadable,
    not PEM, encrypted, or a key that does not match the certificate.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    _load_system_cas(context)
    if ca_bundle:
        _load_ca_bundle(context, ca_bundle)
    if client_cert or client_key:
        _load_client_cert(context, client_cert, client_key)
    return context


def _load_system_cas(context: ssl.SSLContext) -> None:
    """Fall back to certifi where the OpenSSL build knows no system store (some macOS
    and Windows Pythons); create_default_context has loaded the store where there is one."""
    paths = ssl.get_default_verify_paths()
    if paths.cafile or paths.capath:
        return
    try:
        import certifi  # httpx depends on it
    except ImportError:  # pragma: no cover - httpx always brings it
        return
    context.load_verify_locations(cafile=certifi.where())


def _read_pem(setting: str, value: str, marker: bytes) -> Path:
    """Check that the file exists, is readable and holds PEM with `marker`; return it."""
    flag = "--" + setting.replace("_", "-")
    path = Path(value).expanduser()
    fix = f"fix {flag} (or CODEGEN_HOOK_{setting.upper()})"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{setting} {value!r}: no such file; {fix}") from None
    except OSError as exc:
        raise ConfigError(f"{setting} {value!r} cannot be read ({exc.strerror}); {fix} "
                          "or make the file readable") from None
    if b"-----BEGIN " + marker not in data:
        kind = marker.decode().lower() or "data"
        tool = "pkey" if setting == "client_key" else "x509"
        raise ConfigError(
            f"{setting} {value!r} holds no PEM {kind} (no '-----BEGIN {marker.decode()}' "
            f"line); {fix}. A DER file converts with `openssl {tool} -inform der -in "
            f"{value} -out {value}.pem`")
    return path


def _load_ca_bundle(context: ssl.SSLContext, ca_bundle: str) -> None:
    path = _read_pem("ca_bundle", ca_bundle, b"CERTIFICATE")
    try:
        context.load_verify_locations(cafile=str(path))
    except ssl.SSLError as exc:
        raise ConfigError(f"ca_bundle {ca_bundle!r} is not a valid PEM certificate bundle "
                          f"({exc.reason or exc}); fix --ca-bundle (or "
                          "CODEGEN_HOOK_CA_BUNDLE)") from None


class _EncryptedKey(Exception):
    pass


def _refuse_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal, inside a git hook.
    raise _EncryptedKey


def _load_client_cert(context: ssl.SSLContext, client_cert: str, client_key: str) -> None:
    if not client_cert:
        raise ConfigError("client_key is set but client_cert is not; pass --client-cert "
                          "with the certificate that belongs to the key")
    cert = _read_pem("client_cert", client_cert, b"")
    key = _read_pem("client_key", client_key, b"") if client_key else None
    key_name = "client_key" if client_key else "client_cert"
    try:
        context.load_cert_chain(str(cert), str(key) if key else None,
                                password=_refuse_password)
    except _EncryptedKey:
        raise ConfigError(
            f"{key_name} holds an encrypted private key, which a hook cannot ask a "
            "password for; decrypt it into a file only you can read (`openssl pkey -in "
            "KEY -out KEY.plain && chmod 600 KEY.plain`) and pass --client-key") from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"client_key does not belong to client_cert "
                              f"{client_cert!r}; pass the matching --client-key") from None
        if not client_key:
            raise ConfigError(
                f"client_cert {client_cert!r} holds no usable certificate and private "
                "key; if the key is in a file of its own, pass it with --client-key") from None
        raise ConfigError(
            f"client_cert {client_cert!r} with client_key {client_key!r} is not a PEM "
            "certificate and private key; fix --client-cert and --client-key") from None


def explain_tls_failure(exc: BaseException, url: str) -> str | None:
    """Advice for a TLS failure somewhere in `exc`'s chain; None if it is not one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return _verification_advice(seen, url)
        if isinstance(seen, ssl.SSLError):
            reason = seen.reason or str(seen)
            if any(alert in reason.upper() for alert in _CLIENT_CERT_ALERTS):
                return (f"the server at {url} refused the TLS handshake ({reason}); if it "
                        "requires a client certificate, pass --client-cert (and "
                        "--client-key) with one it trusts")
            return (f"TLS with {url} failed ({reason}); check that the server speaks "
                    "TLS 1.2 or later on that port")
        seen = seen.__cause__ or seen.__context__
    return None


def _verification_advice(exc: ssl.SSLCertVerificationError, url: str) -> str:
    detail = (exc.verify_message or str(exc)).rstrip(".")
    if exc.verify_code in _HOSTNAME_MISMATCH:
        return (f"certificate verification failed for {url}: {detail}. Use the host name "
                "the server's certificate was issued for in the URL; verification "
                "cannot be turned off")
    return (f"certificate verification failed for {url}: {detail}. If the server's "
            "certificate comes from your organisation's own CA, pass its PEM file with "
            "--ca-bundle (setting ca_bundle, CODEGEN_HOOK_CA_BUNDLE); verification "
            "cannot be turned off")
