"""The HTML page of `eval repo`: accuracy per arm (with and without retrieval, tdd), how often
`verified` was right, speed and size of generated against hand-written code."""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from pathlib import Path

from codegen_hook.atomic import write_atomic
from codegen_hook.evals.report import histogram, page, part_bars
from codegen_hook.evals.repo import ArmSummary, FunctionResult
from codegen_hook.evals.results import interval_text, percent

__all__ = ["render_repo_report", "write_repo_report"]


def _x(value: float | None) -> str:
    return "–" if value is None else f"×{value:.2f}"


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _summary_table(summaries: dict[str, ArmSummary]) -> str:
    rows: list[tuple[str, Callable[[ArmSummary], str]]] = [
            ("functions", lambda s: str(s.functions)),
            ("generated passes the repo's tests",
             lambda s: f"{s.passed} ({percent(s.accuracy)}{interval_text(s.accuracy_ci)})"),
            ("verified", lambda s: str(s.verified)),
            ("verified and right (precision)",
             lambda s: percent(s.precision_verified) + interval_text(s.precision_ci)),
            ("speed ratio, median (generated / hand-written)",
             lambda s: _x(s.speed_ratio_median)),
            ("speed ratio, geometric mean", lambda s: _x(s.speed_ratio_geomean)),
            ("style score, generated / hand-written",
             lambda s: f"{_num(s.style_generated)} / {_num(s.style_original)}"),
            ("size ratio, median (AST nodes)", lambda s: _x(s.size_ratio_median)),
            ("fill seconds, median", lambda s: _num(s.fill_seconds_median, 1))]
    head = "".join(f"<th>{escape(arm)}</th>" for arm in summaries)
    body = "".join(f"<tr><td>{escape(label)}</td>"
                   + "".join(f"<td>{escape(cell(s))}</td>" for s in summaries.values())
                   + "</tr>" for label, cell in rows)
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _function_table(results: list[FunctionResult], arms: list[str]) -> str:
    head = "".join(f"<th>{escape(a)}: verdict</th><th>tests</th><th>speed</th>" for a in arms)
    rows = []
    for r in results:
        if r.status != "done":
            cells = f'<td colspan="{3 * len(arms)}">skipped: {escape(r.skip_reason)}</td>'
        else:
            cells = ""
            for arm in arms:
                a = r.arms.get(arm)
                cells += ("<td>–</td><td>–</td><td>–</td>" if a is None else
                          f"<td>{escape(a.verdict)}</td>"
                          f"<td>{'pass' if a.passed else 'FAIL'}</td>"
                          f"<td>{escape(_x(a.speed_ratio))}</td>")
        rows.append(f"<tr><td>{escape(r.key)}</td><td>{r.tests}</td>{cells}</tr>")
    return (f"<table><tr><th>function</th><th>covering tests</th>{head}</tr>"
            f"{''.join(rows)}</table>")


def render_repo_report(results: list[FunctionResult], summaries: dict[str, ArmSummary],
                       title: str) -> str:
    arms = list(summaries)
    sections = [f"<h1>codegen-hook on {escape(title)}</h1>"
                "<p>Each function was cut back to its stub, filled by the hook with an index "
                "that never held its body, and scored by the repository's own tests that "
                "exercise it (run in the sandbox).</p>",
                f"<h2>Summary</h2>{_summary_table(summaries)}",
                "<h2>Generated code that passes the repository's tests</h2>",
                part_bars([(arm, s.passed, s.functions) for arm, s in summaries.items()],
                          "accuracy by arm"),
                "<h2>How often verified was right</h2>",
                part_bars([(arm, round((s.precision_verified or 0) * s.verified), s.verified)
                           for arm, s in summaries.items()], "precision of verified",
                          unit="right")]
    for arm, s in summaries.items():
        if s.speed_ratios:
            logs = [math.log2(x) for x in s.speed_ratios]
            sections.append(
                f"<h2>{escape(arm)}: speed ratio (generated / hand-written, log scale)</h2>"
                "<p>Seconds spent inside the function while its tests ran, both passing; "
                "below ×1 the generated code was faster.</p>"
                + histogram(logs, "speed ratio", lambda v: f"×{2 ** v:.2f}",
                            low=min(logs + [0.0])))
    sections.append(f"<h2>Functions</h2>{_function_table(results, arms)}")
    return page(f"codegen-hook eval repo: {title}", sections)


def write_repo_report(path: Path, results: list[FunctionResult],
                      summaries: dict[str, ArmSummary], title: str) -> Path:
    write_atomic(path, render_repo_report(results, summaries, title).encode("utf-8"))
    return path
