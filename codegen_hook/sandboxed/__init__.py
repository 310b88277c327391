"""Programs that run INSIDE the sandbox, never in the hook's process.

Each module here is a whole program: the host reads its text (`program_text`) and
ships it as a job file, so it is linted, typed and tested like the rest of the
package, yet the hook never imports it. Every program reports through a line that
starts with a per-run random token the host gave it; an exit status alone never
counts as a pass.

- `run_matrix`: every candidate against every test, a forked child per candidate.
- `repo_matrix`: the repository's own tests against each candidate, pytest imported once.
- `hidden_tests`: a benchmark's hidden tests against one answer (scoring only).
- `repo_tests`: a repository's own pytest suite against a scratch copy.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["program_text"]

_PROGRAMS = ("run_matrix", "repo_matrix", "hidden_tests", "repo_tests")


def program_text(name: str) -> str:
    """The source of the sandboxed program `name`, to ship as a job file."""
    if name not in _PROGRAMS:
        raise ValueError(f"no sandboxed program {name!r}; known: {', '.join(_PROGRAMS)}")
    return resources.files(__name__).joinpath(f"{name}.py").read_text("utf-8")
