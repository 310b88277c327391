"""Secret redaction: each kind is replaced in place, everything else is left alone.

Provider tokens are assembled at run time so that this file itself holds nothing a
secret scanner would stop.
"""

from __future__ import annotations

import ast

import pytest

from codegen_hook.security.redact import Redacted, Redaction, redact_secrets, shannon_entropy

AWS_ID = "AKIA" + "Q3EGRT7XZ2LMN4PK"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzq8Rk2Lm3N"
GITHUB = "ghp_" + "aB3dE6" * 6
GITHUB_PAT = "github_pat_" + "11ABCDE" * 4
GITLAB = "glpat-" + "x7Yk2" * 4
SLACK = "xoxb-" + "1234567890-" + "AbCdEfGhIj"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjt"
GOOGLE = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6q"
OPENAI = "sk-proj-" + "Ab1Cd2Ef3Gh4" * 3
JWT = "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3In0" + ".dBjftJeZ4CVPmB92K27uhbUJU"
PEM_BODY = "\n".join(["MIIEowIBAAKCAQEAx3h1J9Yq8pV2w3rT5ZsK",
                      "o7dW1B4yqQ6vN8cL0mH5aG2uF9eR3tJ1kXz",
                      "Yb7Qe2Ww9Lp4Kd6Rt3Ux8Mn1Vc5Hs0Jf7Ga=="])
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"


# -- each kind --------------------------------------------------------------------

KINDS = [
    ("aws-access-key", 'AWS_ACCESS_KEY_ID = "{s}"', AWS_ID),
    ("aws-secret-key", 'AWS_SECRET_ACCESS_KEY = "{s}"', AWS_SECRET),
    ("aws-secret-key", "aws_secret_access_key = {s}", AWS_SECRET),
    ("github-token", 'client = Github("{s}")', GITHUB),
    ("github-token", "# pushed with {s}", GITHUB_PAT),
    ("gitlab-token", 'headers = {{"PRIVATE-TOKEN": "{s}"}}', GITLAB),
    ("slack-token", 'WebClient(token="{s}")', SLACK),
    ("stripe-key", 'stripe.api_key = "{s}"', STRIPE),
    ("google-api-key", 'url = f"https://maps.example.com/?key={s}"', GOOGLE),
    ("openai-key", 'OpenAI(api_key="{s}")', OPENAI),
    ("jwt", 'session.headers["Authorization"] = "Bearer {s}"', JWT),
    ("url-password", 'DATABASE_URL = "postgres://admin:{s}@db.internal:5432/app"', "s3cr3t!"),
    ("url-password", 'redis.from_url("redis://:{s}@cache:6379/0")', "Rp9xQ2w"),
    ("password", 'password = "{s}"', "hunter2"),
    ("password", 'self.db_password: str = "{s}"', "Tr0ub4dor&3"),
    ("password", 'connect(host="db", user="app", passwd="{s}")', "pa55word"),
    ("password", '{{"password": "{s}"}}', "correct-horse"),
    ("password", 'requests.get(url, auth=("alice", "{s}"))', "wonderland9"),
    ("secret", 'self.api_key = "{s}"', "a1b2c3d4e5f6g7h8"),
    ("secret", 'SECRET_KEY = "{s}"', "django-insecure-k#3m!x9$q"),
    ("secret", 'os.environ["SERVICE_TOKEN"] = "{s}"', "tok_9f8e7d6c5b4a"),
    ("secret", 'CLIENT_SECRET = "{s}"', "Qm8vYmFy-YmF6cXV4"),
    ("high-entropy", 'jwt_key_material = "{s}"', "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA"),
    ("high-entropy", "SESSION_COOKIE_KEYS={s}", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA"),
]


@pytest.mark.parametrize(("kind", "template", "secret"), KINDS)
def test_each_kind_is_replaced_in_place(kind: str, template: str, secret: str) -> None:
    text = "import os\n\n" + template.format(s=secret) + "\n"
    redacted = redact_secrets(text)
    placeholder = f"<redacted:{kind}:1>"
    assert redacted.text == text.replace(secret, placeholder)
    assert redacted.redactions == [Redaction(kind, 3, placeholder)]
    assert redacted.kinds() == {kind: 1} and redacted.count == 1


def test_a_bearer_header_keeps_its_scheme() -> None:
    redacted = redact_secrets('headers = {"Authorization": "Bearer abcDEF123456xyz"}')
    assert redacted.text == 'headers = {"Authorization": "Bearer <redacted:secret:1>"}'


# -- placeholders, numbering, lines ----------------------------------------------------

def test_the_same_secret_gets_the_same_placeholder_everywhere() -> None:
    text = (f'PRIMARY = "{GITHUB}"\n'
            f'BACKUP = "{GITHUB[:-2]}zz"\n'
            f'# rotate {GITHUB} before Friday\n'
            'password = "hunter22"\n'
            'assert login("bob", "hunter22")\n')
    redacted = redact_secrets(text)
    assert redacted.text.splitlines() == [
        'PRIMARY = "<redacted:github-token:1>"',
        'BACKUP = "<redacted:github-token:2>"',
        "# rotate <redacted:github-token:1> before Friday",
        'password = "<redacted:password:1>"',
        'assert login("bob", "<redacted:password:1>")',
    ]
    assert [r.line for r in redacted.redactions] == [1, 2, 3, 4, 5]
    assert redacted.count == 5
    assert redacted.kinds() == {"github-token": 3, "password": 2}


def test_redacting_twice_finds_nothing_new() -> None:
    text = "\n".join(template.format(s=secret) for _, template, secret in KINDS)
    once = redact_secrets(text)
    assert once.count == len(KINDS)
    twice = redact_secrets(once.text)
    assert twice.count == 0 and twice.text == once.text


SETTINGS_MODULE = f'''\
"""Settings for the billing service."""

import os

DEBUG = False
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "billing",
        "USER": "billing",
        "PASSWORD": "Bi11ing-Pr0d!",
        "HOST": os.environ.get("DB_HOST", "localhost"),
    }},
}}
STRIPE_API_KEY = "{STRIPE}"
SENTRY_DSN = "https://public@sentry.example.com/42"

SIGNING_KEY = """{PEM}"""


def api_headers() -> dict[str, str]:
    return {{"Authorization": "Bearer " + os.environ["API_TOKEN"]}}
'''


def test_a_realistic_settings_module() -> None:
    redacted = redact_secrets(SETTINGS_MODULE)
    assert redacted.kinds() == {"password": 1, "stripe-key": 1, "private-key": 1}
    assert [(r.kind, r.line) for r in redacted.redactions] == [
        ("password", 11), ("stripe-key", 15), ("private-key", 18)]
    # The module still parses, has the same number of lines and holds no secret.
    ast.parse(redacted.text)
    assert len(redacted.text.splitlines()) == len(SETTINGS_MODULE.splitlines())
    for secret in ("Bi11ing-Pr0d!", STRIPE, "MIIEowIBAAKCAQEA", "PRIVATE KEY"):
        assert secret not in redacted.text
    assert 'SIGNING_KEY = """<redacted:private-key:1>\n' in redacted.text
    unchanged = [line for line in SETTINGS_MODULE.splitlines()
                 if not any(s in line for s in ("PASSWORD", "STRIPE", "PRIVATE", "MII",
                                                "o7dW", "Yb7Q"))]
    assert all(line in redacted.text.splitlines() for line in unchanged)


@pytest.mark.parametrize("pem", [
    PEM.replace("\n", "\\n"),                                  # one line with \n escapes
    PEM.replace("RSA ", "OPENSSH "),
    PEM.replace("RSA ", "ENCRYPTED "),
    PEM.replace("-----END RSA PRIVATE KEY-----", ""),          # cut off before its END
    PEM.replace("RSA PRIVATE KEY", "PGP PRIVATE KEY BLOCK"),
])
def test_private_key_variants(pem: str) -> None:
    redacted = redact_secrets(f'KEY = """{pem}"""\nNEXT = 1\n')
    assert redacted.kinds() == {"private-key": 1}
    assert redacted.text.startswith('KEY = """<redacted:private-key:1>')
    assert redacted.text.endswith('"""\nNEXT = 1\n')
    assert "MIIE" not in redacted.text


# -- what must stay untouched ----------------------------------------------------------

NEGATIVES = [
    # hashes and ids are not credentials, whatever their entropy
    'expected_sha256 = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"',
    'digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"',
    'assert checksum(data) == "5d41402abc4b2a76b9719d911017c592"',
    'cache_key = "3f2a9b8c7d6e5f4a3b2c1d0e9f8a7b6c"',
    'request_id = "750a944d-055f-423b-a14f-1dd427162043"',
    'session_id = str(uuid.uuid4())  # e.g. "1b4e28ba-2fa1-11d2-883f-0016d3cca427"',
    'token_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"',
    'public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBn2k8yH4qVv7Q3sJm5"',
    'commit = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"',
    # docstrings, prose and URLs without a password
    '"""Return the token for the user.\n\n    The password is hashed with a random salt."""',
    'PROMPT = "Enter your password and press return to continue"',
    'password = "Password must be at least eight characters long"',
    'url = "https://user@example.com:8080/path?next=/login"',
    'DATABASE_URL = "postgres://app:${DB_PASSWORD}@db:5432/app"',
    'DATABASE_URL = "postgres://app:password@db:5432/app"',
    # not literals at all
    'password = os.environ["PW"]',
    'password = os.environ.get("PW", "")',
    "token = None",
    "api_key: str",
    "def login(user: str, password: str | None = None) -> None: ...",
    'if password == "": raise ValueError("empty")',
    # obvious placeholders
    'token = ""',
    'password = "changeme"',
    'api_key = "<your-api-key>"',
    'api_key = "${API_KEY}"',
    'api_key = "your-api-key-here"',
    'password = "xxxxxxxx"',
    'password = "********"',
    'secret = "{secret}"',
    'token = "GITHUB_TOKEN"',
    'password = "password"',
    # names that say what the value is, and values that are labels
    'TOKEN_URL = "https://example.com/oauth/token"',
    'token_type = "Bearer"',
    'secret_name = "prod-db-credentials"',
    'password_field = "user_password"',
    'api_key = "X-API-Key"',
    'AUTH_HEADER = "Authorization"',
    'FAKE_TOKEN = "abc123def456"',
    # tokenizers and regexes
    'token = "("',
    'token = "identifier"',
    'token = r"[-!#$%&*+.^_`|~0-9a-zA-Z]+"',
    'pwd = "/home/user/project"',
    'pw = " ...\\n".join(parts)',
    # a PEM header used as a constant, with no key in it
    'START = b"-----BEGIN OPENSSH PRIVATE KEY-----"',
    # short and ordinary
    'key = "name"',
    'auth = "basic"',
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_code_is_left_alone(text: str) -> None:
    redacted = redact_secrets(text)
    assert redacted.redactions == [] and redacted.text == text


def test_empty_text() -> None:
    assert redact_secrets("") == Redacted("", [])
    assert redact_secrets("").kinds() == {}


def test_entropy() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == 2.0
