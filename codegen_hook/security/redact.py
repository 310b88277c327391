"""Replace credentials in repository text by placeholders before it leaves the process.

Everything that carries repository code into a prompt, a log, an audit entry or a PR
comment passes it through `redact_secrets` first. Each secret becomes
`<redacted:KIND:N>`, numbered per kind in order of appearance; the same secret gets
the same placeholder everywhere in the text. Only the secret's own characters are
replaced (a string keeps its quotes), and a multi-line secret keeps its line breaks,
so line numbers stay valid. A secret found once that looks like one (8+ characters, no
whitespace, a digit, a symbol or mixed case) is replaced wherever else it stands as a
whole word, too (`assert login("bob", "hunter22")` after `password = "hunter22"`).

What counts as a secret, first rule wins where two overlap:

* `private-key`: a PEM block `-----BEGIN ... PRIVATE KEY-----` through its END line
  (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP ... BLOCK); a block cut off before its END
  is redacted up to where its base64 stops.
* Provider formats, anywhere (code, comments, strings): `aws-access-key` (AKIA/ASIA +
  16), `github-token` (ghp_ gho_ ghu_ ghs_ ghr_ github_pat_), `gitlab-token`
  (glpat-), `slack-token` (xoxa- xoxb- xoxp- xoxr-), `stripe-key` (sk_live_
  rk_live_ sk_test_ rk_test_), `google-api-key` (AIza + 35), `openai-key` (sk-,
  sk-proj-... with 32+ characters mixing letters and digits), `jwt` (eyJ... three
  base64url parts).
* `url-password`: the password of `scheme://user:password@host`.
* Named literals: an assignment (`x = "..."`, `x: str = "..."`, `self.x = "..."`),
  keyword argument, dict/JSON entry (`"x": "..."`) or subscript (`env["X"] = "..."`)
  whose name is strong and whose whole value is one string literal (not raw, not an
  f-string) that is not a placeholder:
  - `password` when the name's last word is password, passwd, pwd, pw, passphrase
    or passcode, and the value has at least 4 characters;
  - `secret` when the last word is secret, token, apikey, credential(s), creds,
    auth, authorization or bearer, or the last two are `<api|access|private|secret|
    signing|...> key`, and the value looks like a token: no whitespace, 8+
    characters, with a digit, a symbol or mixed case, not naming itself ("X-API-Key",
    "test-token-1" are labels). `"Bearer xyz"` redacts xyz;
  - `aws-secret-key` for a 40-character key under a name with aws/access and secret;
  - `requests`-style `auth=("user", "password")` redacts the password.
* `high-entropy`: a 20+ character base64/hex value (Shannon entropy >= 3.5 bits per
  character, >= 2.8 for hex; at least one digit and one letter; not a UUID) under a
  weaker name: any word of it key, secret, token, pass, session, cookie, private,
  hmac, jwt, dsn, ... and none of id, cache, commit, version, path, url, name, type,
  ... This rule also reads unquoted `KEY=value` and `key: value` lines (.env, INI,
  YAML); an unquoted value is never judged by the name rules above.

Deliberately not secrets (false positives cost a blocked commit):

* Placeholders: empty, one repeated character (`xxx`, `***`), `<...>`, `{...}`,
  `${VAR}`, `$VAR`, `%s`, env var names (`"GITHUB_TOKEN"`), words such as changeme,
  placeholder, example, dummy, redacted, password, secret, token, none, test, and
  `your-api-key-here` phrasings; values without a letter or digit (`":****"`);
  paths and URLs under a strong name.
* Raw strings (regular expressions: `token = r"[A-Za-z_][A-Za-z0-9_]*"`) and
  f-strings under a credential name; a literal followed by more expression
  (`pw = " ...\\n".join(parts)`).
* Values that are not literals: `password = os.environ["PW"]`, `token = None`,
  annotations `api_key: str`, comparisons.
* Names that say "not a secret": `token_url`, `password_hash`, `secret_name` (the
  last word decides); any name with a word of public, hash, sha256, md5, digest,
  checksum, etag, fingerprint, uuid (`expected_sha256`, `public_key`,
  `publicKeyToken`) or declared fake (fake, dummy, example, sample, mock). A hex
  digest or uuid4 is never redacted for itself, only for a credential's name.
* Prose: a value of three or more words is a message, not a credential (a passphrase
  like "correct horse battery staple" is the accepted miss).

Test fixtures are redacted like any code (`password="hunter2"` becomes a placeholder):
a literal password is no less a password in a prompt for sitting in a test. PEM
headers alone (`b"-----BEGIN OPENSSH PRIVATE KEY-----"` in a parser) are not keys.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Redacted", "Redaction", "redact_secrets", "shannon_entropy"]

MIN_ENTROPY_LENGTH = 20
BASE64_ENTROPY = 3.5   # bits per character; random base64 of 20 characters scores ~3.9
HEX_ENTROPY = 2.8      # random hex of 20 characters scores ~3.4
MIN_PASSWORD_LENGTH = 4
MIN_TOKEN_LENGTH = 8


@dataclass(frozen=True)
class Redaction:
    kind: str
    line: int           # 1-based; the same in the original and the redacted text
    placeholder: str


@dataclass
class Redacted:
    text: str
    redactions: list[Redaction]

    @property
    def count(self) -> int:
        """Occurrences replaced (a secret used twice counts twice)."""
        return len(self.redactions)

    def kinds(self) -> dict[str, int]:
        return dict(Counter(r.kind for r in self.redactions))


_Span = tuple[int, int, str]   # start, end, kind


def _string(tag: str) -> str:
    """A one-line, non-f string literal: prefix `p{tag}`, body `v{tag}`."""
    return (rf"""(?P<p{tag}>[rRbBuU]{{0,2}})(?P<q{tag}>["'])"""
            rf"""(?P<v{tag}>(?:\\.|(?!(?P=q{tag}))[^\\\n])*)(?P=q{tag})""")


_END_OF_VALUE = r"(?=[ \t]*(?:[,)}\];#\r\n]|$))"   # the literal is the whole value
_PEM_BODY = r"""(?:[A-Za-z0-9+/=:,\- \t\r\n"']|\\[nr])"""
_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    rf"(?:{_PEM_BODY}*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"""|(?:(?:\\[nr]|[ \t\r\n"'])+[A-Za-z0-9+/=]{16,})+)""")
_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|"
                                r"github_pat_[A-Za-z0-9_]{22,255})\b")),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("slack-token", re.compile(r"\bxox[abpr]-[A-Za-z0-9\-]{10,}")),
    ("stripe-key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])")),
    ("openai-key", re.compile(r"\bsk-(?=[A-Za-z0-9_\-]*[0-9])(?=[A-Za-z0-9_\-]*[A-Za-z])"
                              r"[A-Za-z0-9_\-]{32,}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]*")),
)
_URL_PASSWORD = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:(?P<pw>[^\s/@'\"]+)@")
_ASSIGNED = re.compile(r"\b(?P<name>[A-Za-z_]\w*)(?:[ \t]*:[ \t]*[\w\[\]., |]{1,60}?)?"
                       r"[ \t]*:?=(?!=)[ \t]*" + _string("") + _END_OF_VALUE)
_KEYED = re.compile(r"""(?P<kq>["'])(?P<name>[A-Za-z_][\w.\-]*)(?P=kq)[ \t]*"""
                    r"(?::|\][ \t]*=(?!=))[ \t]*" + _string("") + _END_OF_VALUE)
_AUTH_TUPLE = re.compile(r"\bauth[ \t]*=[ \t]*\([ \t]*" + _string("u") + r"[ \t]*,[ \t]*"
                         + _string("") + r"[ \t]*\)")
_BARE = re.compile(r"^[ \t]*(?:export[ \t]+)?(?P<name>[A-Za-z_][\w.\-]*)[ \t]*[:=][ \t]*"
                   r"(?P<v>[A-Za-z0-9+/=_\-]{20,})[ \t]*(?:#.*)?$", re.MULTILINE)

_WORDS = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*|[0-9]+")
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "pw", "passphrase", "passcode"})
_SECRET_WORDS = frozenset({"secret", "token", "apikey", "credential", "credentials", "creds",
                           "auth", "authorization", "bearer", "privatekey", "secretkey",
                           "accesskey"})
_KEY_QUALIFIERS = frozenset({"api", "access", "private", "secret", "signing", "encryption",
                             "master", "auth", "account", "client", "app", "service",
                             "session", "webhook", "hmac", "jwt", "shared", "license"})
_WEAK_WORDS = _PASSWORD_WORDS | _SECRET_WORDS | frozenset({
    "key", "keys", "pass", "secrets", "tokens", "cred", "session", "cookie", "private",
    "priv", "hmac", "jwt", "dsn"})
# A name with one of these words is never a secret's name ("hashes are not secrets").
_NOT_SECRET_WORDS = frozenset({
    "public", "pub", "hash", "hashed", "sha", "sha1", "sha224", "sha256", "sha384",
    "sha512", "md5", "blake2", "digest", "checksum", "crc", "etag", "fingerprint", "uuid",
    "guid", "fake", "dummy", "example", "sample", "mock", "placeholder"})
# ... and with one of these, not the name of a merely high-entropy secret.
_NEUTRAL_WORDS = frozenset({
    "id", "ids", "commit", "rev", "revision", "version", "cache", "sort", "primary",
    "foreign", "partition", "lookup", "idempotency", "object", "bucket", "path", "file",
    "url", "uri", "name", "type", "env", "var", "header", "field", "prefix", "pattern",
    "regex", "format", "length", "len", "size", "count"})
_PLACEHOLDER_WORDS = frozenset({
    "changeme", "changethis", "placeholder", "example", "sample", "dummy", "fake",
    "redacted", "todo", "fixme", "tbd", "none", "null", "nil", "undefined", "notset",
    "unset", "empty", "secret", "password", "passwd", "token", "apikey", "key", "test",
    "testing", "basic", "bearer", "digest", "oauth", "oauth2", "true", "false",
    "mypassword", "mysecret", "mytoken", "myapikey", "replaceme"})
_PLACEHOLDER = re.compile(
    r"^(?:<.*>|\$\{.*\}|\{.*\}|%\(\w+\)s|%s|\$[A-Za-z_]\w*|(.)\1*|[xX]+|[^A-Za-z0-9]*"
    r"|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|(?i:(?:your|insert|enter|replace)[ _\-].*|.*[ _\-]here))$",
    re.DOTALL)
# A token-shaped value that names what it stands for ("X-API-Key", "test-token-1").
_LABEL = re.compile(r"key|token|secret|passw|auth|api", re.IGNORECASE)
_SCHEME = re.compile(r"^(?:Bearer|Basic|Token|Digest|Bot)[ \t]+(?=\S+$)", re.IGNORECASE)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_\-]+=*$")
_AWS_SECRET = re.compile(r"^[A-Za-z0-9/+=]{40}$")


def shannon_entropy(value: str) -> float:
    """Bits per character of `value`'s own character distribution."""
    if not value:
        return 0.0
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in Counter(value).values())


def _high_entropy(value: str) -> bool:
    if len(value) < MIN_ENTROPY_LENGTH or _UUID.match(value):
        return False
    if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return False
    if _HEX.match(value):
        return shannon_entropy(value) >= HEX_ENTROPY
    return bool(_BASE64.match(value)) and shannon_entropy(value) >= BASE64_ENTROPY


def _placeholder(value: str) -> bool:
    bare = re.sub(r"[\s_\-]", "", value).lower()
    return not value.strip() or bare in _PLACEHOLDER_WORDS or bool(_PLACEHOLDER.match(value))


def _path_or_url(value: str) -> bool:
    return "://" in value or value.startswith(("/", "~/", "./", "../"))


def _token_shaped(value: str) -> bool:
    """Could be an API token or key: one run of characters with some randomness in it."""
    if len(value) < MIN_TOKEN_LENGTH or any(c.isspace() for c in value):
        return False
    mixed_case = any(c.isupper() for c in value) and any(c.islower() for c in value)
    symbol = any(not c.isalnum() and c not in "-_." for c in value)
    return mixed_case or symbol or any(c.isdigit() for c in value)


def _strong_kind(words: list[str]) -> str | None:
    """`password` or `secret` when the name's last word(s) name a credential."""
    if not words:
        return None
    if words[-1] in _PASSWORD_WORDS:
        return "password"
    if words[-1] in _SECRET_WORDS or (words[-1] == "key" and len(words) > 1
                                      and words[-2] in _KEY_QUALIFIERS):
        return "secret"
    return None


def _judge(name: str, value: str, bare: bool) -> tuple[str, int] | None:
    """The kind of secret `value` is under `name`, and where in `value` it starts."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if _NOT_SECRET_WORDS.intersection(words) or _placeholder(value) or \
            len(value.split()) >= 3:
        return None
    if "secret" in words and ({"aws", "access"} & set(words)) and _AWS_SECRET.match(value):
        return "aws-secret-key", 0
    strong = None if bare else _strong_kind(words)
    if strong == "password" and len(value) >= MIN_PASSWORD_LENGTH and (
            not _path_or_url(value) or _high_entropy(value)):
        return "password", 0
    if strong == "secret":
        scheme = _SCHEME.match(value)
        start = scheme.end() if scheme else 0
        rest = value[start:]
        if _token_shaped(rest) and not _placeholder(rest) and not _LABEL.search(rest) and (
                not _path_or_url(rest) or _high_entropy(rest)):
            return "secret", start
    weak = _WEAK_WORDS.intersection(words) and not _NEUTRAL_WORDS.intersection(words)
    if weak and _high_entropy(value):
        return "high-entropy", 0
    return None


def _named(text: str) -> Iterator[_Span]:
    """Literals under credential names; raw strings are patterns, never secrets."""
    for pattern in (_ASSIGNED, _KEYED):
        for match in pattern.finditer(text):
            judged = None if "r" in match["p"].lower() else \
                _judge(match["name"], match["v"], bare=False)
            if judged:
                yield match.start("v") + judged[1], match.end("v"), judged[0]
    for match in _AUTH_TUPLE.finditer(text):
        if len(match["v"]) >= MIN_PASSWORD_LENGTH and not _placeholder(match["v"]):
            yield match.start("v"), match.end("v"), "password"
    for match in _BARE.finditer(text):
        judged = _judge(match["name"], match["v"], bare=True)
        if judged:
            yield match.start("v"), match.end("v"), judged[0]


def _candidates(text: str) -> Iterator[_Span]:
    """Every possible secret, in rule priority order."""
    for match in _PEM.finditer(text):
        yield match.start(), match.end(), "private-key"
    for kind, pattern in _TOKENS:
        for match in pattern.finditer(text):
            yield match.start(), match.end(), kind
    for match in _URL_PASSWORD.finditer(text):
        if not _placeholder(match["pw"]) and match["pw"].lower() not in ("pass", "pwd"):
            yield match.start("pw"), match.end("pw"), "url-password"
    yield from _named(text)


def _overlaps(spans: list[_Span], start: int, end: int) -> bool:
    return any(start < s_end and s_start < end for s_start, s_end, _ in spans)


def _accept(text: str, candidates: Iterator[_Span]) -> list[_Span]:
    """Non-overlapping spans (earlier rules win), plus repeats of the secrets found."""
    spans: list[_Span] = []
    for start, end, kind in candidates:
        if end > start and not _overlaps(spans, start, end):
            spans.append((start, end, kind))
    for secret, kind in {text[start:end]: kind for start, end, kind in spans}.items():
        if not _token_shaped(secret):
            continue   # a plain word ("benchmark") also stands in ordinary places
        for match in re.finditer(rf"(?<!\w){re.escape(secret)}(?!\w)", text):
            if not _overlaps(spans, match.start(), match.end()):
                spans.append((match.start(), match.end(), kind))
    return sorted(spans)


def redact_secrets(text: str) -> Redacted:
    """`text` with every secret replaced by a placeholder, and what was replaced."""
    line_starts = [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]
    placeholders: dict[str, Redaction] = {}   # by secret; its first sighting
    numbers: Counter[str] = Counter()
    parts: list[str] = []
    redactions: list[Redaction] = []
    done = 0
    for start, end, kind in _accept(text, _candidates(text)):
        secret = text[start:end]
        if secret not in placeholders:
            numbers[kind] += 1
            placeholders[secret] = Redaction(kind, 0, f"<redacted:{kind}:{numbers[kind]}>")
        first = placeholders[secret]
        parts += [text[done:start], first.placeholder, "\n" * secret.count("\n")]
        redactions.append(Redaction(first.kind, bisect.bisect_right(line_starts, start),
                                    first.placeholder))
        done = end
    parts.append(text[done:])
    return Redacted("".join(parts), redactions)
