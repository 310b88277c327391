"""The repository's own tests and environment as evidence: found statically, confirmed
against the stub, run per candidate through real pytest in the real sandbox."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.checks import make_checks
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.pipeline.environment import ProjectEnv, find_project_env
from codegen_hook.pipeline.repo_tests import find_repo_tests, configured_testpaths
from codegen_hook.pipeline.run import FillReport, fill_paths
from codegen_hook.stubs import find_stubs

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap is not installed")

SLUG = '''def slug(title: str) -> str:
    """Lower-case `title`, words joined by single hyphens, anything but letters and
    digits dropped."""
    ...
'''
SLUG_TESTS = '''from textutil import slug


def test_plain():
    assert slug("Hello World") == "hello-world"


class TestEdges:
    def test_punctuation_and_spaces(self):
        assert slug("  Hi,   there! ") == "hi-there"


def test_nothing_to_do_with_it():
    assert 1 + 1 == 2


def test_passes_with_the_stub_too():
    assert slug is not None
'''
SIG = "def slug(title: str) -> str:"
WRONG = f"```python\n{SIG}\n    return title.lower().replace(' ', '-')\n```"
RIGHT = (f"```python\n{SIG}\n    import re\n\n"
         "    return '-'.join(re.findall(r'[a-z0-9]+', title.lower()))\n```")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "textutil.py").write_text(SLUG)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_textutil.py").write_text(SLUG_TESTS)
    (tmp_path / "tests" / "test_other.py").write_text("def test_x():\n    slug = 1\n")
    return tmp_path


def fill(root: Path, answers: list[str], **options: object) -> FillReport:
    base: dict[str, object] = {"candidates": 2, "max_rounds": 1, "generated_tests": False,
                               "checks": ("flake8",), "resample": 0}
    base.update(options)
    settings = Settings(**base)  # type: ignore[arg-type]
    return fill_paths([root / "textutil.py"], settings, root, root / ".cache",
                      lambda: ScriptedBackend(answers), BwrapSandbox,
                      make_checks(settings.checks), check_only=True)


def test_tests_naming_the_stub_in_files_importing_its_module_are_found(repo: Path) -> None:
    [stub] = find_stubs(SLUG).stubs
    found = [t.node_id for t in find_repo_tests(repo, repo / "textutil.py", stub)]
    assert found == ["tests/test_textutil.py::test_plain",
                     "tests/test_textutil.py::TestEdges::test_punctuation_and_spaces",
                     "tests/test_textutil.py::test_passes_with_the_stub_too"]


def test_a_method_is_found_through_its_class_and_its_name(tmp_path: Path) -> None:
    (tmp_path / "box.py").write_text("class Box:\n    def area(self) -> int:\n"
                                     "        \"\"\"Width times height.\"\"\"\n        ...\n")
    (tmp_path / "test_box.py").write_text(
        "import pytest\nfrom box import Box\n\n\n@pytest.fixture\ndef box():\n"
        "    return Box()\n\n\ndef test_area(box):\n    assert box.area() == 4\n\n\n"
        "def test_other(box):\n    assert box\n")
    [stub] = find_stubs((tmp_path / "box.py").read_text()).stubs
    found = find_repo_tests(tmp_path, tmp_path / "box.py", stub)
    assert [t.node_id for t in found] == ["test_box.py::test_area"]
    assert "box.area() == 4" in found[0].source


def test_unittest_cases_are_found_whatever_their_class_is_called(tmp_path: Path) -> None:
    (tmp_path / "textutil.py").write_text(SLUG)
    (tmp_path / "test_slug.py").write_text(
        "import unittest\nfrom textutil import slug\n\n\nclass SlugChecks(unittest.TestCase):\n"
        "    def test_plain(self):\n        self.assertEqual(slug('A b'), 'a-b')\n\n"
        "    def helper(self):\n        return slug('x')\n\n\n"
        "class Helpers:\n    def test_not_collected(self):\n        slug('x')\n")
    [stub] = find_stubs(SLUG).stubs
    found = find_repo_tests(tmp_path, tmp_path / "textutil.py", stub)
    assert [t.node_id for t in found] == ["test_slug.py::SlugChecks::test_plain"]


@pytest.mark.parametrize("name, text", [
    ("pyproject.toml", '[tool.pytest.ini_options]\ntestpaths = ["checks"]\n'),
    ("pytest.ini", "[pytest]\ntestpaths = checks\n"),
    ("setup.cfg", "[tool:pytest]\ntestpaths = checks\n"),
    ("tox.ini", "[pytest]\ntestpaths = checks other\n"),
])
def test_the_projects_testpaths_are_respected(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    assert configured_testpaths(tmp_path)[0] == tmp_path / "checks"
    assert configured_testpaths(tmp_path / "nowhere") == [tmp_path / "nowhere"]


@needs_bwrap
@pytest.mark.sandbox
def test_a_test_first_stub_is_verified_by_the_repositorys_tests(repo: Path) -> None:
    """A prose docstring, no examples: before, the fill ended "no examples" and took
    the first candidate. Now the repository's tests pick the right one and verify it."""
    [stub] = fill(repo, [WRONG, RIGHT]).to_json()["stubs"]
    assert stub["verdict"] == "verified", stub["reasons"]
    assert "re.findall" in stub["body"]
    assert stub["evidence"] == ["repo-tests:2"]
    assert stub["repo_tests"] == ["tests/test_textutil.py::test_plain",
                                  "tests/test_textutil.py::TestEdges::test_punctuation_and_spaces"]
    assert any("test_passes_with_the_stub_too (passed with the stub's `...` body" in n
               for n in stub["notes"])
    wrong = stub["candidates"][0]["repo_results"]
    assert [r["outcome"] for r in wrong] == ["passed", "failed"]
    assert "assert '--hi,---there!-' == 'hi-there'" in wrong[1]["message"]


@needs_bwrap
@pytest.mark.sandbox
def test_failing_repository_tests_go_back_for_repair_and_block_verified(repo: Path) -> None:
    backend = ScriptedBackend([WRONG, RIGHT])
    report = fill_paths([repo / "textutil.py"], Settings(
        candidates=1, max_rounds=2, generated_tests=False, checks=("flake8",), resample=0),
        repo, repo / ".cache", lambda: backend, BwrapSandbox, make_checks(("flake8",)),
        check_only=True)
    [outcome] = report.outcomes
    repair = backend.requests[1].messages[-1].content
    assert "TestEdges::test_punctuation_and_spaces failed" in repair
    assert "AssertionError" in repair
    assert outcome.verdict == "verified" and outcome.selection.round == 2


@needs_bwrap
@pytest.mark.sandbox
def test_exiting_with_status_zero_passes_no_repository_test(repo: Path) -> None:
    exits = f"```python\n{SIG}\n    import sys\n    sys.exit(0)\n```"
    [stub] = fill(repo, [exits], candidates=1).to_json()["stubs"]
    assert stub["verdict"] == "unverified"
    assert all(r["outcome"] != "passed" for r in stub["candidates"][0]["repo_results"])


@pytest.fixture
def readable_venv() -> Iterator[Path]:
    """A real venv (no pip) holding a small third-party package, somewhere the sandbox's
    user can read (pytest's tmp folders are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="codegen-hook-venv-", dir="/tmp"))
    os.chmod(folder, 0o755)
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [site] = list(venv.glob("lib/python3*/site-packages"))
    (site / "wordcase").mkdir()
    (site / "wordcase" / "__init__.py").write_text(
        "def kebab(words):\n    return '-'.join(w.lower() for w in words)\n")
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():   # bin/python links to the real interpreter: not ours
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    yield venv
    shutil.rmtree(folder)


@needs_bwrap
@pytest.mark.sandbox
def test_a_third_party_import_runs_with_the_projects_environment(
        tmp_path: Path, readable_venv: Path) -> None:
    """Before, every candidate died with ModuleNotFoundError in the bare sandbox."""
    (tmp_path / "names.py").write_text(
        'def label(words: list[str]) -> str:\n    """Kebab-case label.\n\n'
        '    >>> label(["Big", "Cat"])\n    \'big-cat\'\n    """\n    ...\n')
    answer = ("```python\ndef label(words: list[str]) -> str:\n    from wordcase import kebab\n"
              "\n    return kebab(words)\n```")
    settings = Settings(candidates=1, max_rounds=1, generated_tests=False, checks=("flake8",),
                        project_venv=str(readable_venv))
    report = fill_paths([tmp_path / "names.py"], settings, tmp_path, tmp_path / ".cache",
                        lambda: ScriptedBackend([answer]), BwrapSandbox,
                        make_checks(settings.checks), check_only=True)
    [stub] = report.to_json()["stubs"]
    assert stub["verdict"] == "verified", stub["reasons"]
    assert any("setting project_venv" in n for n in stub["notes"])


def test_the_environment_is_found_in_the_documented_order(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    (venv / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.2\n")
    settings = Settings()
    found = find_project_env(settings, tmp_path, env={})
    assert (found.where, found.version) == (".venv/ in the repository", (3, 11))
    # pre-commit runs hooks inside its own venv: its VIRTUAL_ENV is not the project's
    hook_env = {"VIRTUAL_ENV": str(tmp_path / "pre-commit-env"), "PRE_COMMIT": "1"}
    assert find_project_env(settings, tmp_path, env=hook_env).prefix == venv
    with pytest.raises(ConfigError, match="not a virtual environment"):
        find_project_env(settings, tmp_path, env={"VIRTUAL_ENV": str(tmp_path / "nope")})
    chosen = find_project_env(Settings(project_venv=".venv"), tmp_path, env={})
    assert chosen.where == "setting project_venv"
    assert find_project_env(settings, tmp_path / "bare", env={}).where.startswith(
        "the interpreter running")


def test_a_python_version_mismatch_names_both_and_what_to_set() -> None:
    env = ProjectEnv("setting project_venv", Path("/p/.venv"), (3, 12), ())
    with pytest.raises(ConfigError, match=r"Python 3\.12, but the bwrap sandbox runs Python "
                                          r"3\.11; point\s+`project_venv`"):
        env.check_version((3, 11), "bwrap")


BOX = '''class Box:
    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height

    def area(self) -> int:
        """How much of the floor the box covers."""
        ...
'''
BOX_TESTS = '''import pytest

from box import Box


@pytest.fixture
def box():
    return Box(2, 3)


def test_area(box):
    assert box.area() == 6


def test_square():
    assert Box(4, 4).area() == 16
'''


@needs_bwrap
@pytest.mark.sandbox
def test_a_method_stub_is_verified_by_the_tests_of_its_class(tmp_path: Path) -> None:
    """Before, a method had only agreement to go on: right, and unverified."""
    (tmp_path / "box.py").write_text(BOX)
    (tmp_path / "test_box.py").write_text(BOX_TESTS)
    head = "```python\nclass Box:\n    def area(self) -> int:\n"
    answers = [head + "        return self.width * 2\n```",
               head + "        return self.width * self.height\n```"]
    settings = Settings(candidates=2, max_rounds=1, generated_tests=False, checks=("flake8",),
                        resample=0)
    report = fill_paths([tmp_path / "box.py"], settings, tmp_path, tmp_path / ".cache",
                        lambda: ScriptedBackend(answers), BwrapSandbox,
                        make_checks(settings.checks), check_only=True)
    [stub] = report.to_json()["stubs"]
    assert (stub["verdict"], stub["body"]) == ("verified", "return self.width * self.height")
    assert stub["evidence"] == ["repo-tests:2"]
