"""`fill --write-tests`: the tests that proved a body, kept as a pytest file that passes
under pytest (checked in the sandbox first), never over a hand-written file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.checks import make_checks
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.pipeline.proof_tests import HEADER, proof_tests_path
from codegen_hook.pipeline.run import FillReport, fill_paths

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap is not installed")]

STUB = '''def double(n: int) -> int:
    """Twice `n`.

    >>> double(2)
    4
    >>> x = 5
    >>> double(x)
    10
    """
    ...
'''
RIGHT = "```python\ndef double(n: int) -> int:\n    return n * 2\n```"
SAME = "```python\ndef double(n: int) -> int:\n    return n + n\n```"
MODEL_TESTS = "```python\nassert double(0) == 0\nassert double(-3) == -6\n" \
    "assert double(1) == 3\n```"


def fill(root: Path) -> FillReport:
    settings = Settings(candidates=2, max_rounds=1, generated_tests=True, checks=("flake8",),
                        resample=0, write_tests=True)
    return fill_paths([root / "dbl.py"], settings, root, root / ".cache",
                      lambda: ScriptedBackend([MODEL_TESTS, RIGHT, SAME]), BwrapSandbox,
                      make_checks(settings.checks))


def test_the_proving_tests_are_written_with_their_origins(tmp_path: Path) -> None:
    (tmp_path / "dbl.py").write_text(STUB)
    report = fill(tmp_path)
    [file] = report.files
    written = tmp_path / "tests" / "test_dbl_codegen.py"
    assert file.tests_file == str(written), file.tests_note
    assert str(written) in report.changed_files   # the hook stops the commit for review
    text = written.read_text()
    assert text.startswith(HEADER)
    assert "from dbl import double" in text
    assert "# from the docstring's example, line 2\n    assert double(2) == 4" in text
    assert "    x = 5\n    assert double(x) == 10" in text    # the session's setup first
    assert "assert double(-3) == -6" in text and "# from a model-written test" in text
    assert "double(1) == 3" not in text    # the chosen body fails it: never kept
    # a second run replaces its own function, once
    (tmp_path / "dbl.py").write_text(STUB)
    fill(tmp_path)
    assert written.read_text().count("def test_double_codegen") == 1


def test_a_hand_written_file_of_that_name_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "dbl.py").write_text(STUB)
    (tmp_path / "tests").mkdir()
    mine = tmp_path / "tests" / "test_dbl_codegen.py"
    mine.write_text("def test_mine():\n    pass\n")
    [file] = fill(tmp_path).files
    assert file.tests_file == "" and "was not written by codegen-hook" in file.tests_note
    assert mine.read_text() == "def test_mine():\n    pass\n"
    assert file.changed    # the body itself is still written


def test_a_tests_path_outside_the_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inside the repository"):
        proof_tests_path(tmp_path, tmp_path / "m.py", "../elsewhere/test_{module}.py")
    with pytest.raises(ConfigError, match="not a pattern"):
        proof_tests_path(tmp_path, tmp_path / "m.py", "tests/test_{mod}.py")
