"""What the CI bot says: the review (suggestions, notes, summary) built from a fill.

Data in, data out: the forge posts it, the CLI writes it to the job summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from codegen_hook.forges.base import Note, Review, Suggestion
from codegen_hook.pipeline.outcome import Outcome

__all__ = ["build_review", "outcome_line", "relative", "render_summary"]

_VERDICT = {"verified": "✅ verified", "unverified": "⚠️ unverified", "failed": "❌ failed"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _tests(outcome: Outcome) -> str:
    stated = f"{sum(t.passed for t in outcome.tests)}/{len(outcome.tests)}"
    model = [t for t in outcome.generated_tests if t.passed is not None]
    if not model:
        return stated
    return f"{stated} (+ {sum(bool(t.passed) for t in model)}/{len(model)} model-written)"


def _checks(outcome: Outcome) -> str:
    blocking = [f for f in outcome.checks if f.blocking]
    if outcome.verdict == "verified":
        return "clean" if not outcome.checks else f"clean ({len(outcome.checks)} note(s))"
    if not blocking:
        return "-" if not outcome.checks else f"{len(outcome.checks)} note(s)"
    return ", ".join(sorted({f.check for f in blocking}))


def outcome_line(outcome: Outcome, rel: str) -> str:
    """One row of the summary table."""
    seconds = outcome.timings.get("total_s", 0.0)
    return (f"| `{_cell(outcome.qualname)}` | `{_cell(rel)}:{outcome.line}` | "
            f"{_VERDICT.get(outcome.verdict, outcome.verdict)} | {_tests(outcome)} | "
            f"{_cell(_checks(outcome))} | {seconds:.1f} s |")


def render_summary(outcomes: Sequence[tuple[str, Outcome]], *, mode: str, model: str,
                   sandbox: str, seconds: float, notes: Sequence[str] = ()) -> str:
    """The summary comment / job summary: a table of every stub the PR added."""
    verified = sum(o.verdict == "verified" for _, o in outcomes)
    lines = ["### codegen-hook", ""]
    if not outcomes:
        lines.append("This change adds no stubs (functions whose body is `...`).")
    else:
        lines += [f"Filled **{verified}** of **{len(outcomes)}** stub(s) this change adds "
                  f"and verified them in the sandbox; delivered as **{mode}**.", "",
                  "| function | where | verdict | tests passed | checks | time |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [outcome_line(o, rel) for rel, o in outcomes]
    unverified = [(rel, o) for rel, o in outcomes if o.verdict != "verified"]
    if unverified:
        lines += ["", "<details><summary>Why some stubs are not verified</summary>", ""]
        for rel, o in unverified:
            why = "; ".join(r.strip().splitlines()[0] for r in o.reasons if r.strip())
            lines.append(f"- `{o.qualname}` ({rel}): {why or o.verdict}")
        lines += ["", "</details>"]
    if notes:
        lines += ["", *[f"> {n}" for n in notes]]
    lines += ["", f"<sub>model `{model}` · sandbox `{sandbox}` · {seconds:.0f} s · the code "
              "was generated and run on this runner only</sub>"]
    return "\n".join(lines).strip() + "\n"


def _suggestion_comment(outcome: Outcome) -> str:
    return (f"**codegen-hook** filled `{outcome.qualname}`: {_VERDICT['verified']} "
            f"(tests {_tests(outcome)}, checks {_checks(outcome)}, sandbox "
            f"`{outcome.sandbox}`). Review it, then commit the suggestion.")


def _note_body(outcome: Outcome) -> str:
    reasons = "\n".join(f"- {r.strip()}" for r in outcome.reasons if r.strip())
    body = (f"**codegen-hook** could not verify `{outcome.qualname}` "
            f"({_VERDICT.get(outcome.verdict, outcome.verdict)}):\n{reasons}")
    if outcome.code:
        body += ("\n\n<details><summary>The closest candidate (not verified)</summary>\n\n"
                 f"```python\n{outcome.code.rstrip()}\n```\n</details>")
    return body


def build_review(outcomes: Sequence[tuple[str, Outcome]],
                 stub_lines: Mapping[tuple[str, str], tuple[int, int]], *, summary: str,
                 base_sha: str, head_sha: str) -> Review:
    """A suggestion on the stub's own lines for each verified function, a note on the
    def line for each other stub. `stub_lines[(path, qualname)]` is the stub's first and
    last line in the head commit."""
    suggestions: list[Suggestion] = []
    notes: list[Note] = []
    for rel, outcome in outcomes:
        first, last = stub_lines.get((rel, outcome.qualname), (outcome.line, outcome.line))
        if outcome.verdict == "verified" and outcome.code:
            suggestions.append(Suggestion(rel, first, last, outcome.code.rstrip("\r\n"),
                                          _suggestion_comment(outcome)))
        else:
            notes.append(Note(rel, outcome.line, _note_body(outcome)))
    return Review(summary, base_sha, head_sha, tuple(suggestions), tuple(notes))


def relative(path: str | Path, root: Path) -> str:
    """A file's path as the forge names it: relative to the repository, with /."""
    return Path(path).resolve().relative_to(root.resolve()).as_posix()
