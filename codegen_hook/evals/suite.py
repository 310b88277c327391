"""A benchmark suite of our own, `benchmarks/realistic/` by default: YAML files, each a
list of tasks `{id, entry_point, prompt, solution, test, tags}`. `prompt` is the stub as a
developer writes it (the target last, nothing after its docstring), `solution` the
reference body (prompt + solution is the reference module), `test` the HIDDEN strict
`check(candidate)` (the function, or the class of a method entry point). They run
through the HumanEval harness: the hook sees the prompt only.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from codegen_hook.errors import ConfigError
from codegen_hook.evals.humaneval import Task, select_tasks

__all__ = ["DEFAULT_SUITE", "SuiteTask", "load_suite"]

DEFAULT_SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "realistic"
_REQUIRED = ("id", "entry_point", "prompt", "solution", "test")


@dataclass(frozen=True)
class SuiteTask:
    task: Task
    solution: str            # the reference body, for the suite's own tests
    tags: tuple[str, ...]
    source: Path

    @property
    def reference_module(self) -> str:
        return self.task.prompt + self.solution


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.glob("*.yaml") if p.is_file())
        if not found:
            raise ConfigError(f"{path} holds no .yaml task files; give a suite folder or file")
        return found
    if path.is_file():
        return [path]
    raise ConfigError(f"no suite at {path}; give a folder of .yaml task files or one file")


def _task(row: Any, source: Path, number: int) -> SuiteTask:
    where = f"{source}: task {number}"
    if not isinstance(row, dict):
        raise ConfigError(f"{where} is not a mapping; each task is {{id, entry_point, "
                          "prompt, solution, test}")
    missing = [k for k in _REQUIRED if not isinstance(row.get(k), str) or not row[k].strip()]
    if missing:
        raise ConfigError(f"{where} ({row.get('id', '?')}) lacks {', '.join(missing)}; "
                          "every task needs id, entry_point, prompt, solution and test")
    for field in ("prompt", "test"):
        try:
            ast.parse(row[field])
        except SyntaxError as exc:
            raise ConfigError(f"{where} ({row['id']}): its {field} does not parse "
                              f"(line {exc.lineno}: {exc.msg}); fix the YAML") from exc
    tags = row.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"{where} ({row['id']}): tags must be a list of words")
    return SuiteTask(Task(row["id"], row["prompt"], row["entry_point"], row["test"]),
                     row["solution"], tuple(tags), source)


def load_suite(path: Path = DEFAULT_SUITE, *, limit: int | None = None,
               task_ids: Sequence[str] | None = None, every: int | None = None,
               offset: int = 0, tags: Sequence[str] = ()) -> list[SuiteTask]:
    """The suite's tasks in file order (files sorted by name), those with every tag of
    `tags`, then chosen as select_tasks does."""
    found: list[SuiteTask] = []
    for source in _files(path):
        try:
            rows = yaml.safe_load(source.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"{source}: cannot read the suite ({exc}); fix the file") from exc
        if not isinstance(rows, list):
            raise ConfigError(f"{source}: a suite file is a YAML list of tasks")
        found.extend(_task(row, source, n) for n, row in enumerate(rows, 1))
    ids = [t.task.task_id for t in found]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise ConfigError(f"task id(s) used twice in {path}: {', '.join(doubled)}; ids "
                          "must be unique")
    found = [t for t in found if set(tags) <= set(t.tags)]
    by_id = {t.task.task_id: t for t in found}
    prefix = ids[0].split("/")[0] if ids else "realistic"
    chosen = select_tasks([t.task for t in found], prefix, limit=limit, task_ids=task_ids,
                          every=every, offset=offset)
    return [by_id[t.task_id] for t in chosen]
