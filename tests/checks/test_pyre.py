"""Pyre as a selectable check: a scratch project, `pyre check` offline, findings on the
generated lines only; a clear error where Pyre is not installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.checks import make_checks
from codegen_hook.checks.base import CheckContext
from codegen_hook.checks.pyre import PyreCheck, find_pyre
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.pipeline.run import fill_paths

# .ci/run installs Pyre in a venv of its own (its click pin clashes with other extras)
_BESIDE = Path(__file__).resolve().parents[2] / ".venv-pyre" / "bin" / "pyre"
PYRE = str(_BESIDE) if _BESIDE.is_file() else shutil.which("pyre") or ""
needs_pyre = pytest.mark.skipif(
    not PYRE, reason="Pyre is not installed (.ci/run puts it in .venv-pyre)")

MODULE = '''def label(n: int) -> str:
    """Say n."""
    return n + 1


def other() -> str:
    return 1
'''


def context(tmp_path: Path) -> CheckContext:
    return CheckContext(path=tmp_path / "mod.py", root=tmp_path, first_line=3, last_line=3,
                        cache_dir=tmp_path / "cache")


def test_a_missing_pyre_is_a_clear_error_naming_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pip install pyre-check"):
        find_pyre(str(tmp_path / "no-such-pyre"))
    with pytest.raises(ConfigError, match="pyre_command"):
        make_checks(("pyre",), pyre_command=str(tmp_path / "no-such-pyre"))


@needs_pyre
def test_a_type_error_on_a_generated_line_is_a_finding(tmp_path: Path) -> None:
    findings = PyreCheck(PYRE).run(MODULE, context(tmp_path))
    # line 7's error is the user's, outside the generated lines
    assert [(f.check, f.line, f.code) for f in findings] == [("pyre", 3, "7")]
    assert "Expected `str` but got `int`" in findings[0].message
    assert PyreCheck(PYRE).run(MODULE.replace("n + 1", "str(n)"), context(tmp_path)) == []


@needs_pyre
@pytest.mark.sandbox
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_pyre_findings_reach_the_fills_report(tmp_path: Path) -> None:
    path = tmp_path / "lab.py"
    path.write_text('def label(n: int) -> str:\n    """Say n.\n\n    >>> label(2)\n'
                    '    3\n    """\n    ...\n')
    settings = Settings(candidates=1, max_rounds=1, generated_tests=False, checks=("pyre",),
                        pyre_command=PYRE)
    backend = ScriptedBackend(["```python\ndef label(n: int) -> str:\n    return n + 1\n```"])
    report = fill_paths([path], settings, tmp_path, tmp_path / "cache", lambda: backend,
                        BwrapSandbox, make_checks(settings.checks, pyre_command=PYRE),
                        check_only=True)
    [stub] = report.to_json()["stubs"]
    assert stub["verdict"] == "unverified"
    assert [(c["check"], c["code"]) for c in stub["checks"]] == [("pyre", "7")]
    assert "pyre 7 line" in stub["reasons"][-1]
