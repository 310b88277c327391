"""Refuse generated code that hard-codes a secret.

Runs `redact_secrets` over the spliced module (reading it, never running it) and
reports each secret that sits on a generated line; the user's own lines are never
judged. Every finding blocks. Its message names the kind of secret and its
placeholder, never the secret itself, so findings can be logged and posted.

Finding codes:

* SEC100 a private key block
* SEC101 a provider credential (AWS, GitHub, GitLab, Slack, Stripe, Google, OpenAI, JWT)
* SEC102 a password inside a URL
* SEC103 a password, token or key assigned to a credential's name
* SEC104 a high-entropy string under a secret-sounding name
"""

from __future__ import annotations

from typing import ClassVar

from codegen_hook.checks.base import Check, CheckContext, Finding
from codegen_hook.security.redact import Redaction, redact_secrets

__all__ = ["SecretCheck"]

_CODES = {kind: code for code, kinds in (
    ("SEC100", ("private-key",)), ("SEC102", ("url-password",)),
    ("SEC103", ("password", "secret", "aws-secret-key")), ("SEC104", ("high-entropy",)))
    for kind in kinds}
_PROVIDER_CODE = "SEC101"   # every provider format: aws-access-key, github-token, ...
_ADVICE = "read it from the environment or a secrets manager instead of hard-coding it"


def _column(redacted_lines: list[str], redaction: Redaction) -> int:
    """0-based column of the placeholder on its line in the redacted text."""
    if redaction.line > len(redacted_lines):
        return 0
    return max(0, redacted_lines[redaction.line - 1].find(redaction.placeholder))


class SecretCheck(Check):
    """A blocking finding for each secret on the generated lines."""

    name: ClassVar[str] = "security"

    def run(self, code: str, context: CheckContext) -> list[Finding]:
        redacted = redact_secrets(code)
        lines = redacted.text.splitlines()
        return [Finding(self.name, r.line, _column(lines, r),
                        _CODES.get(r.kind, _PROVIDER_CODE),
                        f"generated code hard-codes a secret ({r.kind}, shown here as "
                        f"{r.placeholder}); {_ADVICE}")
                for r in redacted.redactions if context.owns(r.line)]
