"""HumanEval+ (EvalPlus v0.1.10): the same 164 prompts, scored also on EvalPlus's extra
inputs, the way EvalPlus scores them: the answer and the canonical solution run on every
base and plus input (deep copies, in the sandbox), and their results must be equal
(floats, and lists of floats, within `atol` / a relative 1e-7; HumanEval/32's
`find_zero` is right where the polynomial is ~0 at the answer).

The data is read from where it lies (`../shared/data/humanevalplus/` by default, Apache-2.0),
never copied. The plus check is generated text that the sandbox runs: the canonical
solution is exec'd there in a namespace of its own, so its helpers cannot stand in for
missing ones in the answer.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codegen_hook.errors import ConfigError
from codegen_hook.evals.humaneval import Task, select_tasks

__all__ = ["DEFAULT_PLUS", "load_plus_tasks", "plus_check"]

DEFAULT_PLUS = Path(__file__).resolve().parents[3] / "shared" / "data" / "humanevalplus" / \
    "HumanEvalPlus.jsonl.gz"
_KEYS = ("task_id", "prompt", "entry_point", "canonical_solution", "test", "base_input",
         "plus_input", "atol")

# Runs INSIDE the sandbox as /job/check.py, in the answer's namespace.
_CHECK = '''
import copy as _copy
import json as _json
import math as _math

_ENTRY = {entry!r}
_ATOL = {atol!r}
_REFERENCE = {reference!r}
_INPUTS = _json.loads({inputs!r})


def _floats(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return True
    return (isinstance(value, (list, tuple)) and bool(value)
            and all(isinstance(v, float) and not isinstance(v, bool) for v in value))


def _close(a, b):
    return _math.isclose(a, b, rel_tol=1e-07, abs_tol=_ATOL) or (a != a and b != b)


def _same(out, exp):
    if _floats(exp):
        if isinstance(exp, float):
            return isinstance(out, (int, float)) and not isinstance(out, bool) and _close(out, exp)
        return (isinstance(out, (list, tuple)) and len(out) == len(exp)
                and all(isinstance(o, (int, float)) and _close(o, e) for o, e in zip(out, exp)))
    return out == exp


def check(candidate):
    ref = {{"__name__": "reference"}}
    exec(compile(_REFERENCE, "reference.py", "exec"), ref)
    expected = ref[_ENTRY]
    for number, args in enumerate(_INPUTS):
        got = candidate(*_copy.deepcopy(args))
        if _ENTRY == "find_zero":
            assert abs(ref["poly"](*_copy.deepcopy(args), got)) <= max(_ATOL, 1e-6), (
                "input %d: poly(xs, x) is not ~0" % number)
            continue
        want = expected(*_copy.deepcopy(args))
        assert _same(got, want), "input %d: %r, expected %r" % (number, got, want)
'''


def plus_check(row: dict[str, Any]) -> str:
    """The HIDDEN plus check of one EvalPlus row: check(candidate) over its base and
    plus inputs against the canonical solution. Only the scorer reads it."""
    inputs = list(row["base_input"]) + list(row["plus_input"])
    return _CHECK.format(entry=row["entry_point"], atol=float(row.get("atol") or 0.0),
                         reference=row["prompt"] + row["canonical_solution"],
                         inputs=json.dumps(inputs))


def _read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError as exc:
        raise ConfigError(f"HumanEval+ data not found at {path}; pass --plus-data with the "
                          "path of EvalPlus's HumanEvalPlus.jsonl.gz (v0.1.10)") from exc
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable HumanEvalPlus.jsonl.gz ({exc}); fetch "
                          "EvalPlus v0.1.10's file again") from exc
    for number, row in enumerate(rows, 1):
        missing = [k for k in _KEYS if k not in row]
        if missing:
            raise ConfigError(f"{path}: row {number} lacks {', '.join(missing)}; this is not "
                              "EvalPlus's HumanEval+ format (v0.1.10)")
    return rows


def load_plus_tasks(path: Path = DEFAULT_PLUS, *, limit: int | None = None,
                    task_ids: Sequence[str] | None = None, every: int | None = None,
                    offset: int = 0) -> list[Task]:
    """HumanEval+'s tasks: HumanEval's prompt and `check` (the base score, as before),
    with the plus check beside it (`Task.plus_test`)."""
    rows = {r["task_id"]: r for r in _read_rows(path)}
    tasks = [Task(r["task_id"], r["prompt"], r["entry_point"], r["test"], plus_check(r))
             for r in rows.values()]
    return select_tasks(tasks, "HumanEval", limit=limit, task_ids=task_ids, every=every,
                        offset=offset)
