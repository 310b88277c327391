"""The security check: a secret hard-coded on a generated line blocks; the user's own
lines are never judged."""

from __future__ import annotations

from pathlib import Path

from codegen_hook.checks import CheckContext, make_checks
from codegen_hook.checks.security import SecretCheck

AWS_ID = "AKIA" + "Q3EGRT7XZ2LMN4PK"   # assembled so this file holds no key

# Lines 1-5 are the user's; lines 6-10 the generated body; line 12 the user's again.
SPLICED = f'''\
import boto3

USER_KEY = "{{user_key}}"


def make_client(region: str) -> object:
    """An S3 client for `region`."""
    return boto3.client("s3", region_name=region,
                        aws_access_key_id="{{generated_key}}",
                        aws_secret_access_key=os.environ["AWS_SECRET"])

TAIL = "{AWS_ID}" if False else ""
'''
GENERATED = (6, 10)


def context(tmp_path: Path, lines: tuple[int, int] = GENERATED) -> CheckContext:
    return CheckContext(path=tmp_path / "storage.py", root=tmp_path, first_line=lines[0],
                        last_line=lines[1], cache_dir=tmp_path / ".cache")


def test_a_generated_aws_key_blocks_without_showing_the_key(tmp_path: Path) -> None:
    code = SPLICED.format(user_key="", generated_key=AWS_ID)
    findings = SecretCheck().run(code, context(tmp_path))
    assert len(findings) == 1
    finding = findings[0]
    assert (finding.check, finding.line, finding.code, finding.blocking) == \
        ("security", 9, "SEC101", True)
    assert finding.col == code.splitlines()[8].index(AWS_ID)
    assert AWS_ID not in finding.message and AWS_ID not in finding.render()
    assert "aws-access-key" in finding.message
    assert "read it from the environment or a secrets manager" in finding.message


def test_a_key_on_the_users_own_lines_is_not_judged(tmp_path: Path) -> None:
    code = SPLICED.format(user_key=AWS_ID, generated_key="")
    assert SecretCheck().run(code, context(tmp_path)) == []


def test_a_clean_body_has_no_findings(tmp_path: Path) -> None:
    code = SPLICED.format(user_key="", generated_key="")
    assert SecretCheck().run(code, context(tmp_path)) == []


def test_codes_by_kind(tmp_path: Path) -> None:
    code = ('def connect() -> None:\n'
            '    password = "Tr0ub4dor&3"\n'
            '    url = "postgres://app:Zq8wR2@db/app"\n'
            '    key = """-----BEGIN EC PRIVATE KEY-----\n'
            '    MHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY\n'
            '    -----END EC PRIVATE KEY-----"""\n')
    findings = SecretCheck().run(code, context(tmp_path, (2, 6)))
    assert [(f.line, f.code) for f in findings] == [
        (2, "SEC103"), (3, "SEC102"), (4, "SEC100")]
    assert all("Tr0ub4dor" not in f.message and "Zq8wR2" not in f.message for f in findings)


def test_make_checks_builds_it() -> None:
    checks = make_checks(("security",))
    assert any(isinstance(check, SecretCheck) for check in checks)
    assert SecretCheck.name == "security"
