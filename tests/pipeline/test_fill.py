"""The fill loop with the scripted backend and the real bwrap sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen_hook.backends.base import Backend
from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.checks import make_checks
from codegen_hook.config import Settings
from codegen_hook.errors import BackendUnavailableError, ModelNotFoundError
from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.isolation.fake import ScriptedSandbox
from codegen_hook.pipeline.extract import ExtractedCode
from codegen_hook.pipeline.prepare import compose_body
from codegen_hook.pipeline.prompts import ALTERNATIVE
from codegen_hook.pipeline.run import FillReport, fill_paths

STUB = '''import os  # keep me


def count_chars(s: str, char: str) -> int:
    """Count occurrences of `char` in `s`.

    >>> count_chars("strawberry", "r")
    3
    """
    ...


def done() -> int:
    return 1
'''
RIGHT = "```python\ndef count_chars(s: str, char: str) -> int:\n    return s.count(char)\n```"
WRONG = "```python\ndef count_chars(s: str, char: str) -> int:\n    return 2\n```"


def fence(body: str, sig: str = "def count_chars(s: str, char: str) -> int:") -> str:
    return f"Here you go:\n```python\n{sig}\n" + "".join(
        f"    {line}\n" for line in body.split("\n")) + "```\nHope it helps."


def run_fill(paths: list[Path], backend: Backend | Exception, tmp_path: Path,
             sandbox: Sandbox | None = None, check_only: bool = False,
             **settings: object) -> FillReport:
    base = {"candidates": 1, "max_rounds": 2, "checks": ("flake8",), "timeout": 5.0,
            "generated_tests": False, "resample": 0}
    base.update(settings)
    config = Settings(**base)  # type: ignore[arg-type]

    def make_backend() -> Backend:
        if isinstance(backend, Exception):
            raise backend
        return backend

    return fill_paths(paths, config, tmp_path, tmp_path / "cache", make_backend,
                      lambda: sandbox or BwrapSandbox(), make_checks(config.checks),
                      check_only=check_only)


@pytest.fixture
def stub_file(tmp_path: Path) -> Path:
    path = tmp_path / "strings.py"
    path.write_text(STUB)
    return path


def test_verified_body_is_written_and_nothing_else_changes(stub_file: Path,
                                                           tmp_path: Path) -> None:
    report = run_fill([stub_file], ScriptedBackend([RIGHT]), tmp_path)
    [outcome] = report.outcomes
    assert outcome.verdict == "verified", outcome.reasons
    assert outcome.written and report.changed_files == [str(stub_file)]
    assert stub_file.read_text() == STUB.replace("    ...\n", "    return s.count(char)\n")
    assert outcome.to_json()["tests"] == [{"source": 'count_chars("strawberry", "r")\n',
                                           "want": "3\n", "got": "3\n", "passed": True,
                                           "error": ""}]
    function = STUB[STUB.index("def count"):STUB.index("    ...")] + "    return s.count(char)\n"
    assert outcome.code == function  # the function alone: not the blank line after it
    assert outcome.sandbox == "bwrap"


def test_check_only_writes_nothing(stub_file: Path, tmp_path: Path) -> None:
    report = run_fill([stub_file], ScriptedBackend([RIGHT]), tmp_path, check_only=True)
    assert report.outcomes[0].verdict == "verified"
    assert not report.outcomes[0].written and stub_file.read_text() == STUB


def test_failure_output_goes_back_for_repair(stub_file: Path, tmp_path: Path) -> None:
    backend = ScriptedBackend([WRONG, RIGHT])
    report = run_fill([stub_file], backend, tmp_path)
    assert report.outcomes[0].verdict == "verified"
    repair = backend.requests[1].messages
    assert repair[-2].role == "assistant" and repair[-2].content == WRONG
    assert 'count_chars("strawberry", "r") returned 2, expected 3' in repair[-1].content


def test_garbage_answers_fail_and_leave_file_untouched(stub_file: Path,
                                                       tmp_path: Path) -> None:
    report = run_fill([stub_file], ScriptedBackend(["I cannot help.", "", "```\n$$$\n```"]),
                      tmp_path, max_rounds=3)
    [outcome] = report.outcomes
    assert outcome.verdict == "failed" and outcome.attempts == 3
    assert "no usable body" in outcome.reasons[0]
    assert stub_file.read_bytes() == STUB.encode()
    assert report.blocking("block") and not report.blocking("warn")


def test_wrong_code_is_unverified_with_the_failing_example(stub_file: Path,
                                                           tmp_path: Path) -> None:
    report = run_fill([stub_file], ScriptedBackend([WRONG, WRONG]), tmp_path)
    [outcome] = report.outcomes
    assert outcome.verdict == "unverified" and not outcome.written
    assert "returned 2, expected 3" in outcome.reasons[0]
    assert stub_file.read_text() == STUB


def test_unverified_is_written_only_when_asked(stub_file: Path, tmp_path: Path) -> None:
    report = run_fill([stub_file], ScriptedBackend([WRONG, WRONG]), tmp_path,
                      write_unverified=True)
    assert report.outcomes[0].written and "return 2" in stub_file.read_text()


def test_contradicting_example_is_never_verified(tmp_path: Path) -> None:
    """The docstring claims 2; every independent candidate computes 3. A repair that
    bends the code to the example passes it, but must not come back verified."""
    path = tmp_path / "strings.py"
    path.write_text(STUB.replace("    3\n", "    2\n"))
    honest = fence("return s.count(char)")
    bent = fence("return s.count(char) - 1")
    bent_too = fence("return -1 + s.count(char)")   # a second program, not a copy
    report = run_fill([path], ScriptedBackend([honest, honest, honest, bent, bent_too]),
                      tmp_path,
                      candidates=3, max_rounds=2)
    [outcome] = report.outcomes
    assert outcome.verdict == "unverified", outcome.reasons
    assert any("every independently generated candidate computed 3" in r
               for r in outcome.reasons), outcome.reasons
    assert path.read_text() == STUB.replace("    3\n", "    2\n")


def test_special_casing_an_example_is_not_verified(stub_file: Path, tmp_path: Path) -> None:
    cheat = fence('if s == "strawberry":\n    return 3\nreturn 0')
    report = run_fill([stub_file], ScriptedBackend([cheat, cheat]), tmp_path)
    [outcome] = report.outcomes
    assert outcome.verdict == "unverified"
    assert any(f.code == "special-case" for f in outcome.checks)


def test_hanging_code_times_out_in_the_sandbox(stub_file: Path, tmp_path: Path) -> None:
    hang = fence("while True:\n    pass")
    report = run_fill([stub_file], ScriptedBackend([hang]), tmp_path, max_rounds=1,
                      timeout=1.0)
    [outcome] = report.outcomes
    assert outcome.verdict == "unverified"
    assert "timed out after 1s" in outcome.reasons[0]


def test_no_examples_means_unverified_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "plain.py"
    path.write_text('def twice(x: int) -> int:\n    """Return twice x."""\n    ...\n')
    report = run_fill([path], ScriptedBackend([fence("return 2 * x", "def twice(x: int) -> int:")]),
                      tmp_path, max_rounds=1)
    [outcome] = report.outcomes
    assert outcome.verdict == "unverified"
    assert "no examples" in outcome.reasons[0]


def test_backend_error_is_a_reason_and_other_stubs_get_their_turn(tmp_path: Path) -> None:
    first = tmp_path / "a.py"
    first.write_text(STUB)
    second = tmp_path / "b.py"
    second.write_text(STUB)
    backend = ScriptedBackend([BackendUnavailableError("server down; start it"), RIGHT])
    report = run_fill([first, second], backend, tmp_path)
    assert [o.verdict for o in report.outcomes] == ["failed", "verified"]
    assert "server down" in report.outcomes[0].reasons[0]
    assert first.read_text() == STUB and "s.count" in second.read_text()


def test_missing_model_fails_every_stub_without_touching_files(stub_file: Path,
                                                               tmp_path: Path) -> None:
    report = run_fill([stub_file], ModelNotFoundError("no model; pip install it"), tmp_path)
    assert [o.verdict for o in report.outcomes] == ["failed"]
    assert "pip install" in report.outcomes[0].reasons[0]
    assert stub_file.read_text() == STUB


def test_syntax_error_file_is_reported_and_others_still_filled(stub_file: Path,
                                                               tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_bytes(b"def f(:\n    ...\n")
    report = run_fill([broken, stub_file], ScriptedBackend([RIGHT]), tmp_path)
    assert "syntax error" in report.files[0].error
    assert broken.read_bytes() == b"def f(:\n    ...\n"
    assert report.outcomes[0].verdict == "verified"


def test_method_and_async_stubs_and_sibling_imports(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("def double(x: int) -> int:\n    return 2 * x\n")
    path = tmp_path / "shapes.py"
    source = ('import asyncio\n\nfrom helpers import double\n\n\nclass Box:\n'
              '    def __init__(self, side: int) -> None:\n        self.side = side\n\n'
              '    def perimeter(self) -> int:\n        """Four sides.\n\n'
              '        >>> Box(3).perimeter()\n        12\n        """\n        ...\n\n\n'
              'async def twice(x: int) -> int:\n    """Twice x.\n\n'
              '    >>> asyncio.run(twice(4))\n    8\n    """\n    ...\n')
    path.write_text(source)
    backend = ScriptedBackend([
        fence("return double(double(self.side))", "def perimeter(self) -> int:"),
        fence("return double(x)", "async def twice(x: int) -> int:")])
    report = run_fill([path], backend, tmp_path)
    assert [o.verdict for o in report.outcomes] == ["verified", "verified"], report.to_json()
    assert [o.qualname for o in report.outcomes] == ["Box.perimeter", "twice"]
    text = path.read_text()
    assert "        return double(double(self.side))\n" in text
    assert "    return double(x)\n" in text


def test_crlf_file_keeps_its_newlines(tmp_path: Path) -> None:
    path = tmp_path / "crlf.py"
    path.write_bytes(STUB.replace("\n", "\r\n").encode())
    backend = ScriptedBackend([fence("n = s.count(char)\n\nreturn n")])
    report = run_fill([path], backend, tmp_path)
    assert report.outcomes[0].verdict == "verified"
    data = path.read_bytes()
    assert b"    n = s.count(char)\r\n\r\n    return n\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_json_report_has_the_documented_fields(stub_file: Path, tmp_path: Path) -> None:
    report = run_fill([stub_file], ScriptedBackend([RIGHT]), tmp_path)
    [stub] = report.to_json()["stubs"]
    for key in ("file", "name", "line", "verdict", "code", "checks", "tests", "timings"):
        assert key in stub
    assert stub["line"] == 4 and stub["name"] == "count_chars"
    assert stub["timings"]["total_s"] >= stub["timings"]["sandbox_s"] > 0


def test_sandbox_is_only_started_when_there_is_a_stub(tmp_path: Path) -> None:
    path = tmp_path / "plain.py"
    path.write_text("x = 1\n")

    def no_sandbox() -> Sandbox:
        raise AssertionError("sandbox made for a file with no stubs")

    config = Settings(checks=())
    report = fill_paths([path], config, tmp_path, tmp_path, lambda: ScriptedBackend(),
                        no_sandbox, [])
    assert report.outcomes == [] and not report.blocking("block")


def test_scripted_sandbox_result_is_what_the_verdict_uses(stub_file: Path,
                                                          tmp_path: Path) -> None:
    def refuse(job: SandboxJob) -> RunResult:
        return RunResult("killed", -9, "", "", 0.0, "scripted", notes=["stopped"])

    sandbox = ScriptedSandbox(refuse)
    report = run_fill([stub_file], ScriptedBackend([RIGHT]), tmp_path, sandbox=sandbox,
                      max_rounds=1)
    assert report.outcomes[0].verdict == "unverified"
    assert "killed" in report.outcomes[0].reasons[0]
    assert sandbox.jobs and "run_matrix.py" in sandbox.jobs[0].files


def test_no_sandbox_means_no_code_runs_and_files_stay(stub_file: Path, tmp_path: Path) -> None:
    from codegen_hook.errors import SandboxUnavailableError

    def no_sandbox() -> Sandbox:
        raise SandboxUnavailableError("bubblewrap is not installed; apt-get install bubblewrap")

    backend = ScriptedBackend([RIGHT])
    config = Settings(checks=())
    report = fill_paths([stub_file], config, tmp_path, tmp_path, lambda: backend, no_sandbox,
                        [])
    [outcome] = report.outcomes
    assert outcome.verdict == "failed" and "apt-get install bubblewrap" in outcome.reasons[0]
    assert backend.requests == [] and stub_file.read_text() == STUB


def test_helpers_beside_the_function_move_into_the_body(tmp_path: Path) -> None:
    path = tmp_path / "fb.py"
    path.write_text('def shout(s: str) -> str:\n    """Upper-case s with a bang.\n\n'
                    '    >>> shout("hi")\n    \'HI!\'\n    """\n    ...\n')
    answer = ("```python\nimport re\nimport os\n\n\ndef bang(t: str) -> str:\n    return t + '!'"
              "\n\n\ndef shout(s: str) -> str:\n    return bang(re.sub('', '', s).upper())\n```")
    report = run_fill([path], ScriptedBackend([answer]), tmp_path)
    [outcome] = report.outcomes
    assert outcome.verdict == "verified", outcome.reasons
    assert "    import re\n\n    def bang(t: str) -> str:\n" in path.read_text()
    assert "import os" not in path.read_text()


def test_nothing_to_repair_means_no_more_rounds(tmp_path: Path) -> None:
    path = tmp_path / "plain.py"
    path.write_text('def twice(x: int) -> int:\n    """Return twice x."""\n    ...\n')
    backend = ScriptedBackend([fence("return 2 * x", "def twice(x: int) -> int:")])
    report = run_fill([path], backend, tmp_path, max_rounds=3)
    assert report.outcomes[0].attempts == 1 and len(backend.requests) == 1


SQUARE = '''def square(x: int) -> int:
    """Return x times x.

    >>> square(2)
    4
    """
    ...
'''


def _square_answers() -> list[str]:
    sig = "def square(x: int) -> int:"
    tests = "```python\nassert square(3) == 9\nassert square(0) == 0\nassert square(2) == 4\n```"
    return [tests, fence("return x + 2", sig), fence("return x * x", sig),
            fence("return x ** 2", sig)]


@pytest.mark.parametrize("ranking, verdict, body, veto", [
    ("agreement", "verified", "return x * x", True),
    ("first", "verified", "return x * x", True),
    ("first", "verified", "return x + 2", False),
])
def test_agreement_with_model_tests_picks_the_right_candidate(
        tmp_path: Path, ranking: str, verdict: str, body: str, veto: bool) -> None:
    """The greedy answer passes the docstring's one example by luck; two sampled ones
    agree on the model's tests too. Generation order (the ablation) takes the lucky one
    unless the veto stands: it fails model tests that both other programs pass."""
    path = tmp_path / "sq.py"
    path.write_text(SQUARE)
    backend = ScriptedBackend(_square_answers())
    report = run_fill([path], backend, tmp_path, candidates=3, max_rounds=1,
                      generated_tests=True, ranking=ranking, verify_agreement=1,
                      verify_veto=veto)
    [outcome] = report.outcomes
    assert (outcome.verdict, outcome.body) == (verdict, body), outcome.reasons
    tests_request, code_request = backend.requests
    assert "Write 10 different tests of `square`" in tests_request.messages[1].content
    assert code_request.schedule == ((0.0, 1000), (0.8, 1001), (0.8, 1002))
    assert code_request.stop == tests_request.stop == ("\n```\n",)
    # three tests, then five probes (a probe "passes" when it returned, without error)
    assert outcome.selection.tests == "dmmppppp"
    saved = outcome.to_json()["candidates"]
    assert [c["passes"] for c in saved] == ["10011111", "11111111", "11111111"]
    assert [c["group"] for c in saved] == [1, 2, 2]
    assert outcome.selection.index == (0 if body == "return x + 2" else 1)
    assert outcome.selection.rank == (1 if ranking == "first" and veto else 0)
    # square(2) is the user's example: the model's copy of it is not a second test
    assert [t.test for t in outcome.generated_tests] == [
        "assert square(3) == 9", "assert square(0) == 0"]


def test_a_free_form_example_verifies_like_a_doctest(tmp_path: Path) -> None:
    path = tmp_path / "sq.py"
    path.write_text(SQUARE.replace(">>> square(2)\n    4", "For example: square(3) => 9"))
    report = run_fill([path], ScriptedBackend([fence("return x * x",
                                                     "def square(x: int) -> int:")]),
                      tmp_path, max_rounds=1)
    [outcome] = report.outcomes
    assert outcome.verdict == "verified", outcome.reasons
    assert [t.source for t in outcome.tests] == ["square(3)"]


def test_spent_repair_budget_stops_before_a_repair(stub_file: Path, tmp_path: Path) -> None:
    backend = ScriptedBackend([WRONG])
    report = run_fill([stub_file], backend, tmp_path, max_rounds=3, repair_budget_seconds=0)
    [outcome] = report.outcomes
    assert outcome.verdict == "unverified" and len(backend.requests) == 1
    assert "repair budget of 0 s is spent" in outcome.reasons[0]


def test_a_lone_candidate_is_not_verified_when_others_disagree(tmp_path: Path) -> None:
    """Two candidates pass the docstring's one example but compute different things on
    the model's tests: neither is confirmed by a second one, so nothing is verified;
    the answer is still the better-ranked one, and the reason says what would help."""
    path = tmp_path / "sq.py"
    path.write_text(SQUARE)
    tests, lucky, right, _ = _square_answers()
    report = run_fill([path], ScriptedBackend([tests, lucky, right]), tmp_path, candidates=2,
                      max_rounds=1, generated_tests=True)
    [outcome] = report.outcomes
    assert outcome.verdict == "unverified" and outcome.body == "return x * x"
    assert "verified needs 2 that agree" in outcome.reasons[0]


def test_probes_tell_apart_candidates_that_agree_on_every_test(tmp_path: Path) -> None:
    """`x + 2` and `2 * x` both give square(2) == 4: on the docstring's one example they
    agree, so without probes the pair verifies a wrong answer; a probe (square(3))
    shows they compute different things, and nothing is verified."""
    path = tmp_path / "sq.py"
    path.write_text(SQUARE)
    sig = "def square(x: int) -> int:"
    answers = [fence("return x + 2", sig), fence("return 2 * x", sig)]
    [unprobed] = run_fill([path], ScriptedBackend(answers), tmp_path, candidates=2,
                          max_rounds=1, probe_tests=0).outcomes
    assert unprobed.verdict == "verified" and unprobed.selection.tests == "d"
    path.write_text(SQUARE)  # the verified body was written
    [probed] = run_fill([path], ScriptedBackend(answers), tmp_path, candidates=2,
                        max_rounds=1, probe_tests=3).outcomes
    assert probed.verdict == "unverified"
    assert probed.selection.tests == "dppp"
    assert [c["agree"] for c in probed.to_json()["candidates"]] == [1, 1]
    # a probe never counts as passed or failed in the ranking: both still pass alike
    assert [c["group"] for c in probed.to_json()["candidates"]] == [2, 2]
    assert all(len(c["outputs"]) == 4 for c in probed.to_json()["candidates"])


def test_later_rounds_add_fresh_samples_of_the_first_prompt(stub_file: Path,
                                                            tmp_path: Path) -> None:
    """Both first candidates fail the example; the second round asks for a repair and,
    in the same call, for fresh samples of the first prompt. Two of those agree and are
    right: verified, and the record says where each candidate came from."""
    right = fence("return s.count(char)")
    right_too = fence("n = s.count(char)\nreturn n")   # another program, not a copy
    backend = ScriptedBackend([WRONG, WRONG, WRONG, WRONG, right, right_too])
    report = run_fill([stub_file], backend, tmp_path, candidates=2, max_rounds=2,
                      resample=2)
    [outcome] = report.outcomes
    assert outcome.verdict == "verified" and outcome.body == "return s.count(char)"
    first, repair, fresh = backend.requests
    assert fresh.messages == first.messages and repair.messages != first.messages
    assert 'returned 2, expected 3' in repair.messages[-1].content
    assert fresh.schedule == ((0.8, 2500), (0.8, 2501))   # seeds apart from the repair's
    assert [(c["round"], c["origin"]) for c in outcome.to_json()["candidates"]] == [
        (1, "first"), (1, "first"), (2, "repair"), (2, "repair"),
        (2, "resample"), (2, "resample")]
    assert outcome.selection.index == 4


@pytest.mark.parametrize("resample, verdict, asked", [(0, "unverified", 1), (2, "verified", 2)])
def test_fresh_samples_can_confirm_a_lone_right_candidate(
        stub_file: Path, tmp_path: Path, resample: int, verdict: str, asked: int) -> None:
    """The greedy answer passes the example but no other candidate agrees: nothing failed
    that a repair could address. Without fresh samples the loop stops there, unverified;
    with them, a second right program turns up and confirms it."""
    right = fence("return s.count(char)")
    right_too = fence("n = s.count(char)\nreturn n")   # another program, not a copy
    backend = ScriptedBackend([right, WRONG, right_too, WRONG])
    report = run_fill([stub_file], backend, tmp_path, candidates=2, max_rounds=2,
                      resample=resample, alternatives=0)
    [outcome] = report.outcomes
    assert outcome.verdict == verdict, outcome.reasons
    assert outcome.body == "return s.count(char)" and len(backend.requests) == asked


@pytest.mark.parametrize("alternatives, verdict", [(0, "unverified"), (2, "verified")])
def test_copies_of_one_program_ask_for_it_written_another_way(
        stub_file: Path, tmp_path: Path, alternatives: int, verdict: str) -> None:
    """Every first-round sample is the same one-liner: one program, no agreement. The
    next round asks the first prompt again with ALTERNATIVE added (the answers so far
    not shown); a program that computes the same on every test and probe is a second
    program, and it verifies. (A loop would not: on the probe count_chars("strawberry",
    "") it counts 0 where str.count counts 11.)"""
    right = fence("return s.count(char)")
    loop = fence("found = s.count(char)\nreturn found")
    # round 2 asks the alternatives (if any) before the fresh samples
    second = [loop, WRONG] if alternatives else []
    backend = ScriptedBackend([right, right, *second, right, right])
    report = run_fill([stub_file], backend, tmp_path, candidates=2, max_rounds=2,
                      resample=2, alternatives=alternatives)
    [outcome] = report.outcomes
    assert outcome.verdict == verdict, outcome.reasons
    assert outcome.body == "return s.count(char)"
    first, *later = backend.requests
    asked = [r for r in later if ALTERNATIVE in r.messages[-1].content]
    if not alternatives:
        assert not asked and len(backend.requests) == 2   # the resamples: copies again
        return
    [alternative] = asked
    assert alternative.messages[:-1] == first.messages[:-1]
    assert alternative.messages[-1].content.startswith(first.messages[-1].content)
    assert "return s.count(char)" not in alternative.messages[-1].content
    assert [c["origin"] for c in outcome.to_json()["candidates"]] == [
        "first", "first", "alternative", "alternative", "resample", "resample"]
    assert "agreement:2 distinct" in outcome.evidence


def test_one_candidate_a_round_means_no_fresh_samples(stub_file: Path,
                                                      tmp_path: Path) -> None:
    backend = ScriptedBackend([WRONG, RIGHT])
    report = run_fill([stub_file], backend, tmp_path, candidates=1, max_rounds=2, resample=4)
    assert report.outcomes[0].verdict == "verified" and len(backend.requests) == 2


def test_unverified_answer_is_agreements_pick_not_the_fewest_failures(tmp_path: Path) -> None:
    """No candidate passes every example. The greedy one fails one of three; three others
    agree with each other and fail two. When every candidate fails some example the
    examples may be the wrong ones (HumanEval/116): the answer is agreement's pick."""
    path = tmp_path / "f.py"
    path.write_text('def f(x: int) -> int:\n    """Something of x.\n\n    >>> f(2)\n    2\n'
                    '    >>> f(3)\n    3\n    >>> f(4)\n    16\n    """\n    ...\n')
    sig = "def f(x: int) -> int:"
    answers = [fence("return x", sig)] + [fence(b, sig) for b in (
        "return x * x", "return x ** 2", "return pow(x, 2)")]   # three programs agree
    report = run_fill([path], ScriptedBackend(answers), tmp_path, candidates=4, max_rounds=1,
                      probe_tests=0)
    [outcome] = report.outcomes
    assert outcome.verdict == "unverified" and outcome.body == "return x * x"
    assert [c["failed_examples"] for c in outcome.to_json()["candidates"]] == [1, 2, 2, 2]


def test_the_answer_starts_with_the_stubs_own_lines(tmp_path: Path) -> None:
    path = tmp_path / "sq.py"
    path.write_text(SQUARE)
    backend = ScriptedBackend(_square_answers()[:2])
    run_fill([path], backend, tmp_path, max_rounds=1, generated_tests=True)
    tests_request, code_request = backend.requests
    assert code_request.prefix == ('```python\ndef square(x: int) -> int:\n'
                                   '    """Return x times x.\n\n    >>> square(2)\n    4\n'
                                   '    """')
    assert tests_request.prefix == "```python\nassert square("
    path.write_text(SQUARE)
    backend = ScriptedBackend(_square_answers()[1:2])
    run_fill([path], backend, tmp_path, max_rounds=1, answer_prefix=False)
    assert backend.requests[0].prefix == ""


def test_standard_modules_used_but_never_imported_are_imported() -> None:
    module = "import re\n\n\ndef f(string: str) -> str:\n    \"\"\"Doc.\"\"\"\n    ...\n"
    body = ("digest = hashlib.md5(string.encode()).hexdigest()\n"
            "parts = re.split(',', digest)\nmath = 3\n"
            "return str(numpy.sum(parts)) + str(math) + str(len(collections.Counter(parts)))")
    composed = compose_body(ExtractedCode(body, (), ()), module)
    # hashlib and collections: standard, used, unbound; re: the module imports it;
    # string: a parameter; math: assigned; numpy: not in the standard library
    assert composed == "import collections\nimport hashlib\n" + body
    imported = compose_body(ExtractedCode(body, ("import hashlib",), ()), module)
    assert imported == "import hashlib\nimport collections\n" + body
