"""The repository's tests as evidence: found once per fill, confirmed against the stub
itself, then run against the candidates of each round (one sandbox start a round).

A test that already passes with the stub's `...` body says nothing about the body
and is dropped. When the tests cannot run (no environment the sandbox can read, or a
Python version that does not match), every candidate carries that problem, so none
can be verified against tests it was never run against.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from codegen_hook.config import Settings
from codegen_hook.errors import CodegenHookError
from codegen_hook.isolation.base import Sandbox
from codegen_hook.isolation.bwrap import readable_by
from codegen_hook.pipeline.candidate import Candidate
from codegen_hook.pipeline.environment import ProjectEnv, find_project_env
from codegen_hook.pipeline.repo_matrix import RepoOutcome, read_repo_matrix, repo_job
from codegen_hook.pipeline.repo_tests import RepoTest, find_repo_tests
from codegen_hook.stubs import Stub

__all__ = ["RepoEvidence", "gather_repo_tests", "run_repo_tests", "sandbox_environment"]


@dataclass(frozen=True)
class RepoEvidence:
    """The tests that exercise the stub (they fail with its `...` body), where they
    run, and what was learnt finding them."""

    tests: tuple[RepoTest, ...] = ()
    env: ProjectEnv | None = None
    problem: str = ""               # why they cannot run: every candidate fails them
    notes: tuple[str, ...] = ()     # for the report (tests dropped, and why)

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(t.node_id for t in self.tests)


def sandbox_environment(settings: Settings, root: Path, sandbox: Sandbox) -> ProjectEnv:
    """The project's environment, checked against what the sandbox can use: its Python
    version, and (as root) that the sandbox's user can read its packages."""
    env = find_project_env(settings, root)
    version = sandbox.python_version()
    if version is None:
        raise CodegenHookError(f"the {sandbox.name} sandbox does not say which Python it "
                               "runs, so the project's packages are not shown to it")
    env.check_version(version, sandbox.name)
    uid = getattr(sandbox, "uid", None)
    for folder in env.site:
        if isinstance(uid, int) and not readable_by(folder, uid):
            raise CodegenHookError(
                f"the sandbox's user (uid {uid}) cannot read the project's packages in "
                f"{folder} ({env.where}); make that folder and its parents readable by "
                "others (chmod o+rx), or point `project_venv` (--venv) at an environment that is")
    return env


def _run(sandbox: Sandbox, root: Path, path: Path, modules: Sequence[str],
         tests: Sequence[str], env: ProjectEnv,
         settings: Settings) -> list[tuple[str, tuple[RepoOutcome, ...]]]:
    job, marker = repo_job(root, path, modules, tests, env.site, timeout=settings.timeout,
                           memory_mb=settings.memory_mb)
    return list(read_repo_matrix(sandbox.run(job), marker, len(modules), tests))


def gather_repo_tests(settings: Settings, sandbox: Sandbox, root: Path, path: Path,
                      stub: Stub, module_text: str, env: ProjectEnv | None,
                      env_problem: str = "") -> RepoEvidence:
    """The repository's tests that name the stub and fail with its `...` body; `env`
    is where they run (None: `env_problem` says why there is none)."""
    if not settings.repo_tests:
        return RepoEvidence()
    found = find_repo_tests(root, path, stub)
    if not found:
        return RepoEvidence()
    if env is None:
        return RepoEvidence(found, None, f"the repository's tests of {stub.name} could not "
                            f"run: {env_problem}")
    [(problem, outcomes)] = _run(sandbox, root, path, [module_text],
                                 [t.node_id for t in found], env, settings)
    if problem:
        return RepoEvidence(found, env, f"the repository's tests of {stub.name} did not run "
                            f"against the stub itself: {problem}")
    kept = tuple(t for t, o in zip(found, outcomes)
                 if o.outcome in ("failed", "error"))
    dropped = [f"{t.node_id} ({o.outcome} with the stub's `...` body: not "
               "evidence)" for t, o in zip(found, outcomes) if t not in kept]
    return RepoEvidence(kept, env, "", tuple(dropped))


def run_repo_tests(sandbox: Sandbox, cands: Sequence[Candidate], root: Path, path: Path,
                   repo: RepoEvidence, settings: Settings) -> list[Candidate]:
    """Each runnable candidate against the repository's evidence tests (one start)."""
    ready = [c for c in cands if c.ran]
    if not repo.tests or not ready:
        return list(cands)
    if repo.problem or repo.env is None:
        done = {c.index: dataclasses.replace(c, repo_problem=repo.problem) for c in ready}
    else:
        rows = _run(sandbox, root, path, [c.module for c in ready], repo.node_ids, repo.env,
                    settings)
        done = {c.index: dataclasses.replace(c, repo_problem=problem,
                                             repo_results=outcomes)
                for c, (problem, outcomes) in zip(ready, rows)}
    return [done.get(c.index, c) for c in cands]
