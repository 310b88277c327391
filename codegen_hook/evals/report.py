"""The benchmark's HTML report: summary, pass rate by stage and by verdict, times.

One self-contained file; the plots are small inline SVGs drawn here, so the report
needs no plotting library and no network to view.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path

from codegen_hook.atomic import write_atomic
from codegen_hook.evals.results import VERDICTS, Summary, TaskResult, percent, summarize
from codegen_hook.evals.stages import stage_rates

__all__ = ["histogram", "page", "part_bars", "render_report", "write_report"]

_STYLE = """body{font:14px system-ui,sans-serif;margin:2em;max-width:60em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;
padding:.25em .6em;text-align:right}th:first-child,td:first-child{text-align:left}
svg text{font:12px system-ui,sans-serif}h2{margin-top:1.5em}"""
_COLOURS = {"passed": "#2e7d32", "total": "#d7dde3"}


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _summary_rows(summary: Summary) -> list[tuple[str, str]]:
    return [("tasks", str(summary.tasks)), ("passed hidden tests", str(summary.passed)),
            ("pass@1", percent(summary.pass_at_1)), ("verified", str(summary.verified)),
            ("verified rate", percent(summary.verified_rate)),
            ("precision of verified", percent(summary.precision_verified)),
            ("right but unverified", str(summary.right_unverified)),
            *([("passed plus tests", str(summary.plus_passed)),
               ("plus pass@1", percent(summary.plus_pass_at_1)),
               ("precision of verified, plus tests", percent(summary.precision_plus))]
              if summary.plus_passed is not None else []),
            ("mean seconds / task", _num(summary.mean_seconds)),
            ("median seconds / task", _num(summary.median_seconds)),
            ("completion tokens / task", _num(summary.tokens_per_task, 0))]


def _summary_table(summaries: dict[str, Summary]) -> str:
    modes = list(summaries)
    rows = {mode: _summary_rows(s) for mode, s in summaries.items()}
    head = "".join(f"<th>{escape(m)}</th>" for m in modes)
    body = "".join(
        f"<tr><td>{escape(label)}</td>"
        + "".join(f"<td>{escape(rows[m][i][1])}</td>" for m in modes) + "</tr>"
        for i, (label, _) in enumerate(rows[modes[0]]))
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _bar_chart(rows: list[tuple[str, list[tuple[float, str]], str]], label: str, *,
               width: int, label_w: int, bar_h: int, gap: int) -> str:
    """Horizontal bars: each row's name, its rectangles (length in px, colour) drawn over
    each other from the left, the first being the longest, and a text after it."""
    parts = []
    for i, (name, rects, text) in enumerate(rows):
        y = i * (bar_h + gap)
        text_y = y + (bar_h + 8) // 2
        parts.append(f'<text x="0" y="{text_y}">{escape(name)}</text>')
        parts += [f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" '
                  f'fill="{colour}"/>' for length, colour in rects]
        parts.append(f'<text x="{label_w + rects[0][0] + 6:.1f}" y="{text_y}">{text}</text>')
    height = len(rows) * (bar_h + gap)
    return (f'<svg width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(label)}">{"".join(parts)}</svg>')


def part_bars(rows: list[tuple[str, int, int]], label: str, unit: str = "passed") -> str:
    """One bar per row (name, part, whole): the whole in grey, the part in green."""
    width, label_w = 460, 110
    scale = (width - label_w - 130) / max([whole for _, _, whole in rows] + [1])
    return _bar_chart(
        [(name, [(whole * scale, _COLOURS["total"]), (part * scale, _COLOURS["passed"])],
          f'{part}/{whole} {unit}{f" ({100 * part / whole:.0f}%)" if whole else ""}')
         for name, part, whole in rows],
        label, width=width, label_w=label_w, bar_h=20, gap=8)


def _verdict_bars(summary: Summary) -> str:
    """One bar per verdict: its tasks in grey, those that passed hidden tests in green."""
    return part_bars([(v, summary.by_verdict[v]["passed"], summary.by_verdict[v]["tasks"])
                      for v in VERDICTS], "pass rate by verdict")


def _stage_bars(rates: dict[str, float]) -> str:
    """Pass rate of each stage's pick (evals/stages.py), as horizontal bars."""
    width, label_w = 560, 230
    return _bar_chart([(name, [((width - label_w - 60) * rate, _COLOURS["passed"])],
                        f"{100 * rate:.1f}%") for name, rate in rates.items()],
                      "pass rate by stage", width=width, label_w=label_w, bar_h=18, gap=6)


def histogram(values: list[float], label: str, edge: Callable[[float], str],
              bins: int = 12, low: float | None = None) -> str:
    """Values per bin, from `low` (default 0) to the largest; `edge` writes an end."""
    width, height, base = 460, 150, 120
    low = 0.0 if low is None else low
    top = max(values + [low + 1e-9])
    span = max(top - low, 1e-9)
    counts = [0] * bins
    for value in values:
        counts[min(max(int((value - low) / span * bins), 0), bins - 1)] += 1
    most = max(counts + [1])
    bar_w = (width - 40) / bins
    parts = [f'<line x1="30" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#888"/>',
             f'<text x="0" y="12">{most}</text>',
             f'<text x="30" y="{base + 16}">{escape(edge(low))}</text>',
             f'<text x="{width - 60}" y="{base + 16}">{escape(edge(top))}</text>']
    for i, count in enumerate(counts):
        h = (base - 10) * count / most
        parts.append(f'<rect x="{30 + i * bar_w + 1:.1f}" y="{base - h:.1f}" '
                     f'width="{bar_w - 2:.1f}" height="{h:.1f}" fill="#4f7cac">'
                     f'<title>{count}</title></rect>')
    return (f'<svg width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(label)}">{"".join(parts)}</svg>')


def _time_histogram(seconds: list[float]) -> str:
    """Tasks per time bin, from 0 to the slowest task."""
    return histogram(seconds, "seconds per task", lambda v: f"{v:.1f} s" if v else "0 s")


def page(title: str, sections: list[str]) -> str:
    """A whole self-contained HTML page."""
    return ("<!doctype html><html><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(sections)}</body></html>\n")


def _task_table(runs: dict[str, list[TaskResult]]) -> str:
    by_mode = {mode: {r.task_id: r for r in results} for mode, results in runs.items()}
    ids = list(dict.fromkeys(r.task_id for results in runs.values() for r in results))
    head = "".join(f"<th>{escape(m)} verdict</th><th>passed</th><th>s</th>" for m in runs)
    rows = []
    for task_id in ids:
        cells = []
        for mode in runs:
            r = by_mode[mode].get(task_id)
            cells.append("<td>–</td><td>–</td><td>–</td>" if r is None else
                         f"<td>{escape(r.verdict)}</td><td>{'yes' if r.passed else 'no'}</td>"
                         f"<td>{r.seconds:.1f}</td>")
        rows.append(f"<tr><td>{escape(task_id)}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th>task</th>{head}</tr>{''.join(rows)}</table>"


def render_report(runs: dict[str, list[TaskResult]], title: str = "HumanEval") -> str:
    """The report for each mode's results (`hook`, `raw`), side by side."""
    summaries = {mode: summarize(results) for mode, results in runs.items()}
    head = f"<h1>codegen-hook on {escape(title)}</h1>"
    sections = [f"{head}<p>Scored against the hidden tests, which the flow never saw.</p>"
                f"<h2>Summary</h2>{_summary_table(summaries)}" if summaries else
                f"{head}<p>No results yet.</p>"]
    for mode, results in runs.items():
        rates = stage_rates(results)
        if rates:
            sections.append(f"<h2>{escape(mode)}: pass rate by stage</h2>"
                            "<p>Each stage's pick replayed over the same candidates' test "
                            "matrix; the hidden tests scored every candidate after the answer "
                            f"was fixed.</p>{_stage_bars(rates)}")
        sections.append(f"<h2>{escape(mode)}: pass rate by verdict</h2>"
                        f"{_verdict_bars(summaries[mode])}"
                        f"<h2>{escape(mode)}: seconds per task</h2>"
                        f"{_time_histogram([r.seconds for r in results])}")
    if runs:
        sections.append(f"<h2>Tasks</h2>{_task_table(runs)}")
    return page(f"codegen-hook {title}", sections)


def write_report(out_dir: Path, runs: dict[str, list[TaskResult]],
                 title: str = "HumanEval") -> Path:
    path = out_dir / "report.html"
    write_atomic(path, render_report(runs, title).encode("utf-8"))
    return path
