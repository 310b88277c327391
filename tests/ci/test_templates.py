"""The GitHub composite action (action.yml) and the GitLab template (ci/gitlab-codegen.yml), run.

Each `run:` step / the job's `script:` runs under bash (and sh for GitLab) in a temporary git
repository with a base and a head commit, with the variables a runner sets. `${{ }}`
expressions are substituted by a small evaluator over a fake runner context that refuses
any expression it does not know (so the action cannot read something unset) and any
context the runner does not allow at that place. `codegen-hook`, `python -m venv` and
`pip install` are fakes that record their argv and environment. No model, no network.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from codegen_hook.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
GITLAB = ROOT / "ci" / "gitlab-codegen.yml"
VERSION = re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M)[1]
TOKEN = "ghs_FAKE0token0for0tests"
GL_TOKEN = "glpat-FAKE0token0for0tests"
ADVICE = "use `actions/checkout` with `fetch-depth: 0`"

# Stands in for the system python (only `-m venv DIR`), the venv's python (only
# `-m pip install ... TARGET`) and the installed `codegen-hook`, told apart by name and place.
FAKE = r'''#!{python}
import json, os, re, shutil, sys
from pathlib import Path

me, args = Path(sys.argv[0]), sys.argv[1:]


def log(role):
    with open(os.environ["FAKE_LOG"], "a") as f:
        f.write(json.dumps({"role": role, "argv": args, "env": dict(os.environ),
                            "cwd": os.getcwd()}) + "\n")


def flag(name, default):
    return args[args.index(name) + 1] if name in args else default


def system_python():
    log("venv")
    if args[:2] != ["-m", "venv"] or len(args) != 3:
        sys.exit(f"fake python: only `-m venv DIR` is faked, not {args}")
    venv = Path(args[2])
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    (venv / "pyvenv.cfg").write_text("home = fake\n")
    shutil.copy(me, venv / "bin" / "python")


def venv_python():
    log("pip")
    rest = args[3:]
    if args[:3] != ["-m", "pip", "install"]:
        sys.exit(f"fake venv python: only `-m pip install` is faked, not {args}")
    targets = [a for i, a in enumerate(rest)
               if not a.startswith("-") and (i == 0 or rest[i - 1] != "--progress-bar")]
    [target] = targets
    if os.path.isdir(target):
        text = Path(target, "pyproject.toml").read_text()
        version = re.search(r'^version = "(.+)"', text, re.M)[1]
    else:
        version = target.split("==")[1]
    shutil.copy(me, me.parent / "codegen-hook")
    (me.parent.parent / "fake-version").write_text(version)


def codegen_hook():
    if args == ["--version"]:
        print("codegen-hook " + (me.parent.parent / "fake-version").read_text())
        return
    log("codegen-hook")
    out, mode = Path(flag("--out", "codegen-hook-out")), flag("--mode", "review")
    out.mkdir(parents=True, exist_ok=True)
    report = out / "codegen-hook-report.json"
    report.write_text(json.dumps({"stubs": []}))
    summary = "## codegen-hook\n2 verified, 1 unverified, 0 failed\n"
    (out / "summary.md").write_text(summary)
    patch = ""
    if mode == "patch":
        (out / "codegen-hook.patch").write_text("")
        patch = str(out / "codegen-hook.patch")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as f:
            f.write(summary)
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a") as f:
            f.write(f"verified=2\nunverified=1\nfailed=0\nmode={mode}\n"
                    f"patch={patch}\nreport={report}\n")
    sys.exit(int(os.environ.get("FAKE_EXIT", "0")))


if me.name == "codegen-hook":
    codegen_hook()
elif (me.parent.parent / "pyvenv.cfg").exists():
    venv_python()
else:
    system_python()
'''


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@dataclasses.dataclass
class Repo:
    path: Path
    base: str
    head: str


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A checkout on `feature/stubs`: base adds a module, head adds a stub to it (this
    module's own `repo`, in place of the conftest one)."""
    path = tmp_path / "work"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "strings.py").write_text("import os\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "base")
    base = git(path, "rev-parse", "HEAD")
    git(path, "checkout", "-q", "-b", "feature/stubs")
    (path / "strings.py").write_text('import os\n\n\ndef f(x: int) -> int:\n    """>>> f(1)\n'
                                     '    2\n    """\n    ...\n')
    git(path, "commit", "-q", "-am", "head")
    return Repo(path, base, git(path, "rev-parse", "HEAD"))


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    """The fake system python, as a file of its own."""
    folder = tmp_path / "fakes"
    folder.mkdir()
    python = folder / "python3"
    python.write_text(FAKE.replace("{python}", sys.executable))
    python.chmod(0o755)
    return python


def read_log(tmp_path: Path, role: str | None = None) -> list[dict[str, Any]]:
    log = tmp_path / "fake.log"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [c for c in calls if role is None or c["role"] == role]


def assert_token_only_in_env(tmp_path: Path, token: str, output: str) -> None:
    for call in read_log(tmp_path):
        assert not any(token in arg for arg in call["argv"]), call
    assert token not in output


def unquoted_expansions(script: str) -> list[str]:
    """`$NAME`, `${...}` and `$(` outside double quotes, by a tiny shell lexer: quotes,
    backslashes, comments, and `$( )` opening a fresh, unquoted context."""
    found: list[str] = []
    stack = ["plain"]                     # plain | double | subst (inside `$( )`)
    i = 0
    while i < len(script):
        char, context = script[i], stack[-1]
        if char == "\\":
            i += 2
            continue
        if context == "double" and char == '"':
            stack.pop()
        elif context != "double" and char == "'":
            i = script.index("'", i + 1)
        elif context != "double" and char == "#" and (i == 0 or script[i - 1] in " \t\n;"):
            i = script.find("\n", i) % (len(script) + 1)
        elif context != "double" and char == '"':
            stack.append("double")
        elif context == "subst" and char == ")":
            stack.pop()
        elif char == "$" and script.startswith("$(", i):
            found += [] if context == "double" else ["$("]
            stack.append("subst")
            i += 1
        elif char == "$" and (m := re.match(r"\$(\{[^}]*\}|\w+|[@*#?$!-])", script[i:])):
            found += [] if context == "double" else [m[0]]
            i += len(m[0]) - 1
        i += 1
    return found


# --- GitHub: a tiny expression evaluator and a composite-action runner -----------------

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
PROPERTY_PATH = re.compile(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*")
# Where each context may appear (actions/runner: src/Runner.Worker/action_yaml.json).
IN_INPUT_DEFAULT = {"github", "runner"}
IN_STEP = {"github", "inputs", "steps", "runner", "env"}
IN_OUTPUT = {"github", "inputs", "steps", "runner", "env"}


class UnknownExpression(AssertionError):
    pass


class Expressions:
    def __init__(self, contexts: dict[str, Any], lenient_event: bool = False) -> None:
        self.contexts = contexts
        self.lenient_event = lenient_event   # GitHub gives '' for a field the event lacks

    def value(self, expression: str, allowed: set[str]) -> str:
        expression = expression.strip()
        if not PROPERTY_PATH.fullmatch(expression):
            raise UnknownExpression(f"not a property path: {expression!r}")
        head, *parts = expression.split(".")
        if head not in allowed or head not in self.contexts:
            raise UnknownExpression(f"context {head!r} is not available here: {expression!r}")
        value: Any = self.contexts[head]
        for i, part in enumerate(parts):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif self.lenient_event and parts[:1] == ["event"] and i > 0:
                return ""
            else:
                raise UnknownExpression(f"{expression!r}: {part!r} is not set")
        if isinstance(value, (dict, list)):
            raise UnknownExpression(f"{expression!r} is an object, not a value")
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    def substitute(self, text: str, allowed: set[str]) -> str:
        return EXPRESSION.sub(lambda m: self.value(m[1], allowed), text)

    def condition(self, text: str | None, failed: bool) -> bool:
        bare = EXPRESSION.fullmatch(text.strip())[1].strip() if text and "${{" in text else text
        if bare in (None, "success()"):
            return not failed
        if bare == "always()":
            return True
        if bare == "failure()":
            return failed
        raise UnknownExpression(f"condition not understood: {text!r}")


def parse_output_file(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT's two forms: `name=value` and `name<<DELIMITER` … `DELIMITER`."""
    values: dict[str, str] = {}
    lines = iter(path.read_text().splitlines() if path.exists() else [])
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for part in lines:
                if part == delimiter:
                    break
                body.append(part)
            values[name] = "\n".join(body)
        elif line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


@dataclasses.dataclass
class StepResult:
    id: str
    rc: int | None                       # None: skipped (or a `uses:` step, not executed)
    ran: bool
    output: str = ""
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)
    with_: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ActionRun:
    action: dict[str, Any]
    expressions: Expressions
    steps: dict[str, StepResult]
    env: dict[str, str]

    @property
    def rc(self) -> int:
        return next((s.rc for s in self.steps.values() if s.rc), 0)

    @property
    def output(self) -> str:
        return "".join(s.output for s in self.steps.values())

    def outputs(self) -> dict[str, str]:
        return {name: self.expressions.substitute(spec["value"], IN_OUTPUT)
                for name, spec in self.action["outputs"].items()}


def load_action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACTION.read_text())
    return data


def pr_event(repo: Repo, head_repo: str = "acme/widgets") -> dict[str, Any]:
    return {"action": "synchronize", "number": 7,
            "pull_request": {"number": 7,
                             "base": {"sha": repo.base, "ref": "main",
                                      "repo": {"full_name": "acme/widgets"}},
                             "head": {"sha": repo.head, "ref": "feature/stubs",
                                      "repo": {"full_name": head_repo}}}}


def run_action(tmp_path: Path, repo: Repo, inputs: Mapping[str, str],
               event: dict[str, Any] | None = None, head_ref: str = "feature/stubs",
               extra_env: Mapping[str, str] | None = None,
               lenient_event: bool = False) -> ActionRun:
    """Run action.yml's steps as the runner would, in order, each in its own bash."""
    action = load_action()
    event = pr_event(repo) if event is None else event
    temp, tools = tmp_path / "runner-temp", tmp_path / "tool-cache"
    temp.mkdir(exist_ok=True)
    tools.mkdir(exist_ok=True)
    event_path = temp / "event.json"
    event_path.write_text(json.dumps(event))
    github = {"token": TOKEN, "action_path": str(ROOT), "workspace": str(repo.path),
              "event_name": "pull_request", "event": event, "repository": "acme/widgets",
              "head_ref": head_ref, "base_ref": "main", "job": "codegen", "run_id": "99",
              "run_attempt": "1", "sha": repo.head, "ref": "refs/pull/7/merge",
              "server_url": "https://github.com", "api_url": "https://api.github.com"}
    runner = {"temp": str(temp), "tool_cache": str(tools), "os": "Linux", "arch": "X64",
              "name": "codegen-1"}
    contexts: dict[str, Any] = {"github": github, "runner": runner, "env": {}, "steps": {}}
    expressions = Expressions(contexts, lenient_event)
    unknown = set(inputs) - set(action["inputs"])
    assert not unknown, f"inputs the action does not declare: {unknown}"
    contexts["inputs"] = {
        name: inputs[name] if name in inputs
        else expressions.substitute(str(spec.get("default", "")), IN_INPUT_DEFAULT)
        for name, spec in action["inputs"].items()}
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "LANG": "C.UTF-8",
           "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/widgets",
           "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event_path),
           "GITHUB_WORKSPACE": str(repo.path), "GITHUB_SHA": repo.head,
           "GITHUB_REF": "refs/pull/7/merge", "GITHUB_HEAD_REF": head_ref,
           "GITHUB_BASE_REF": "main", "GITHUB_API_URL": "https://api.github.com",
           "GITHUB_SERVER_URL": "https://github.com", "GITHUB_ACTION_PATH": str(ROOT),
           "GITHUB_STEP_SUMMARY": str(temp / "step-summary.md"),
           "GITHUB_ENV": str(temp / "env"), "GITHUB_PATH": str(temp / "path"),
           "RUNNER_TEMP": str(temp), "RUNNER_TOOL_CACHE": str(tools), "RUNNER_OS": "Linux",
           "RUNNER_ARCH": "X64", "FAKE_LOG": str(tmp_path / "fake.log"), **(extra_env or {})}
    results: dict[str, StepResult] = {}
    failed = False
    for index, step in enumerate(action["runs"]["steps"]):
        sid = step.get("id", f"step{index}")
        if not expressions.condition(step.get("if"), failed):
            results[sid] = StepResult(sid, None, ran=False)
            continue
        step_env = {k: expressions.substitute(str(v), IN_STEP)
                    for k, v in step.get("env", {}).items()}
        if "uses" in step:
            with_ = {k: expressions.substitute(str(v), IN_STEP)
                     for k, v in step.get("with", {}).items()}
            results[sid] = StepResult(sid, None, ran=True, with_=with_)
            continue
        assert step["shell"] == "bash"
        script = temp / f"step-{index}.sh"
        script.write_text(expressions.substitute(step["run"], IN_STEP))
        output_file = temp / f"output-{index}"
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=repo.path, capture_output=True, text=True, timeout=60,
                              env={**env, **step_env, "GITHUB_OUTPUT": str(output_file)})
        outputs = parse_output_file(output_file)
        results[sid] = StepResult(sid, proc.returncode, True, proc.stdout + proc.stderr, outputs)
        contexts["steps"][sid] = {"outputs": outputs,
                                  "outcome": "success" if proc.returncode == 0 else "failure"}
        failed = failed or proc.returncode != 0
    return ActionRun(action, expressions, results, env)


def codegen_argv(repo: Repo, mode: str = "review", *more: str) -> list[str]:
    return ["ci", "--base", repo.base, "--head", repo.head, "--pr", "7", "--forge", "github",
            "--mode", mode, "--sandbox", "auto", "--out", "codegen-hook-out", *more]


def test_action_declares_the_inputs_outputs_and_hardened_steps() -> None:
    action = load_action()
    assert action["runs"]["using"] == "composite"
    defaults = {name: spec.get("default") for name, spec in action["inputs"].items()}
    assert defaults["mode"] == "review" and defaults["model"] == ""
    assert defaults["sandbox"] == "auto" and defaults["fail-on-unverified"] == "false"
    assert defaults["token"] == "${{ github.token }}" and defaults["python"] == "python3"
    assert defaults["venv"].startswith("${{ runner.tool_cache }}/")
    assert defaults["extra-args"] == ""
    for name in ("verified", "unverified", "failed", "mode", "patch", "report"):
        assert action["outputs"][name]["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"], "pass values through env:, never into the script"
    *_, upload = action["runs"]["steps"]
    assert upload["uses"] == "actions/upload-artifact@v4" and upload["if"] == "always()"
    assert upload["with"]["path"] == "codegen-hook-out/"
    token_uses = [(step.get("id"), key) for step in action["runs"]["steps"]
                  for key, value in step.get("env", {}).items() if "inputs.token" in str(value)]
    assert token_uses == [("run", "GITHUB_TOKEN")]
    assert ACTION.read_text().count("inputs.token") == 1, "the token goes nowhere else"


def test_action_reviews_with_the_pull_requests_commits(tmp_path: Path, repo: Repo,
                                                       fakes: Path) -> None:
    run = run_action(tmp_path, repo, {"python": str(fakes)})
    assert run.rc == 0, run.output
    [call] = read_log(tmp_path, "codegen-hook")
    assert call["argv"] == codegen_argv(repo)
    assert call["env"]["GITHUB_TOKEN"] == TOKEN and call["cwd"] == str(repo.path)
    assert call["env"]["GITHUB_API_URL"] == "https://api.github.com"
    assert_token_only_in_env(tmp_path, TOKEN, run.output)
    assert run.steps["run"].outputs["verified"] == "2"
    report = "codegen-hook-out/codegen-hook-report.json"
    assert (repo.path / report).exists()
    assert run.outputs() == {"verified": "2", "unverified": "1", "failed": "0",
                             "mode": "review", "patch": "", "report": report}
    assert "2 verified" in Path(run.env["GITHUB_STEP_SUMMARY"]).read_text()
    venv = tmp_path / "tool-cache" / "codegen-hook" / "venv"
    [venv_call] = read_log(tmp_path, "venv")
    assert venv_call["argv"] == ["-m", "venv", str(venv)]
    [pip] = read_log(tmp_path, "pip")
    assert pip["argv"][:3] == ["-m", "pip", "install"] and pip["argv"][-1] == str(ROOT)
    assert run.steps["upload"].with_ == {"name": "codegen-hook-codegen-1",
                                         "path": "codegen-hook-out/",
                                         "if-no-files-found": "warn"}


def test_action_installs_once_and_again_when_the_version_differs(tmp_path: Path, repo: Repo,
                                                                 fakes: Path) -> None:
    for _ in range(2):
        assert run_action(tmp_path, repo, {"python": str(fakes)}).rc == 0
    assert len(read_log(tmp_path, "pip")) == 1 and len(read_log(tmp_path, "codegen-hook")) == 2
    venv = tmp_path / "tool-cache" / "codegen-hook" / "venv"
    (venv / "fake-version").write_text("0.0.1")
    run = run_action(tmp_path, repo, {"python": str(fakes)})
    assert run.rc == 0 and len(read_log(tmp_path, "pip")) == 2
    assert (venv / "fake-version").read_text() == VERSION
    assert "reusing" not in run.output


def test_action_commit_mode_passes_branch_model_fail_flag_and_extra_args(
        tmp_path: Path, repo: Repo, fakes: Path) -> None:
    inputs = {"python": str(fakes), "mode": "commit", "fail-on-unverified": "true",
              "model": "qwen2.5-coder-1.5b-instruct", "sandbox": "bwrap",
              "extra-args": "--json\n  --remote upstream"}
    run = run_action(tmp_path, repo, inputs, extra_env={"FAKE_EXIT": "1"})
    assert run.steps["run"].rc == 1 and run.rc == 1
    [call] = read_log(tmp_path, "codegen-hook")
    expected = codegen_argv(repo, "commit", "--model", "qwen2.5-coder-1.5b-instruct",
                            "--fail-on-unverified", "--branch", "feature/stubs", "--json",
                            "--remote", "upstream")
    expected[expected.index("auto")] = "bwrap"
    assert call["argv"] == expected
    assert run.outputs()["mode"] == "commit" and run.outputs()["unverified"] == "1"
    assert run.steps["upload"].ran, "the report is uploaded even when the run failed"


def test_action_fork_pull_request_falls_back_from_commit_to_patch(tmp_path: Path, repo: Repo,
                                                                  fakes: Path) -> None:
    run = run_action(tmp_path, repo, {"python": str(fakes), "mode": "commit"},
                     event=pr_event(repo, head_repo="someone/widgets"))
    assert run.rc == 0, run.output
    [call] = read_log(tmp_path, "codegen-hook")
    assert call["argv"] == codegen_argv(repo, "patch")
    assert "fork someone/widgets" in run.output
    assert run.outputs()["patch"].endswith("codegen-hook-out/codegen-hook.patch")


def test_action_inputs_cannot_inject_shell(tmp_path: Path, repo: Repo, fakes: Path) -> None:
    pwned = tmp_path / "pwned"
    evil_ref = f"x$(touch {pwned}1)`touch {pwned}2`"
    inputs = {"python": str(fakes), "mode": "commit", "model": f'"; touch {pwned}3; "',
              "extra-args": f"$(touch {pwned}4) * ${{HOME}}"}
    run = run_action(tmp_path, repo, inputs, head_ref=evil_ref)
    assert run.rc == 0, run.output
    [call] = read_log(tmp_path, "codegen-hook")
    assert call["argv"][-8:] == ["--model", f'"; touch {pwned}3; "', "--branch", evil_ref,
                                 "$(touch", f"{pwned}4)", "*", "${HOME}"]
    assert not list(tmp_path.glob("pwned*"))


def test_action_missing_base_commit_prints_the_fetch_depth_advice(tmp_path: Path, repo: Repo,
                                                                  fakes: Path) -> None:
    event = pr_event(repo)
    event["pull_request"]["base"]["sha"] = "0123456789abcdef0123456789abcdef01234567"
    run = run_action(tmp_path, repo, {"python": str(fakes)}, event=event)
    assert run.steps["check"].rc == 2 and run.rc == 2
    assert ADVICE in run.steps["check"].output
    assert not run.steps["run"].ran and read_log(tmp_path, "codegen-hook") == []
    assert run.steps["upload"].ran


def test_action_fetches_a_base_commit_a_shallow_clone_lacks(tmp_path: Path, repo: Repo,
                                                            fakes: Path) -> None:
    git(repo.path, "config", "uploadpack.allowAnySHA1InWant", "true")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "feature/stubs",
        repo.path.as_uri(), str(shallow))
    with pytest.raises(subprocess.CalledProcessError):
        git(shallow, "cat-file", "-e", f"{repo.base}^{{commit}}")
    run = run_action(tmp_path, Repo(shallow, repo.base, repo.head), {"python": str(fakes)})
    assert run.rc == 0, run.output
    assert read_log(tmp_path, "codegen-hook")[0]["argv"] == codegen_argv(repo)


def test_action_refuses_an_event_without_a_pull_request(tmp_path: Path, repo: Repo,
                                                        fakes: Path) -> None:
    run = run_action(tmp_path, repo, {"python": str(fakes)},
                     event={"ref": "refs/heads/main"}, lenient_event=True)
    assert run.steps["check"].rc == 2 and "run this action on: pull_request" in run.output


def test_action_rejects_a_fail_flag_that_is_not_a_boolean(tmp_path: Path, repo: Repo,
                                                          fakes: Path) -> None:
    run = run_action(tmp_path, repo, {"python": str(fakes), "fail-on-unverified": "yes"})
    assert run.steps["run"].rc == 2 and read_log(tmp_path, "codegen-hook") == []


def test_the_evaluator_refuses_what_it_does_not_know() -> None:
    expressions = Expressions({"github": {"token": "t", "event": {}}, "inputs": {"a": "1"},
                               "steps": {}, "runner": {}, "env": {}})
    assert expressions.substitute("${{ github.token }}-${{ inputs.a }}", IN_STEP) == "t-1"
    for bad in ("github.nope", "secrets.TOKEN", "inputs.a || 'x'", "steps.run.outputs.x",
                "github.event.pull_request.number", "github"):
        with pytest.raises(UnknownExpression):
            expressions.value(bad, IN_STEP)
    with pytest.raises(UnknownExpression):
        expressions.value("inputs.a", IN_INPUT_DEFAULT)
    with pytest.raises(UnknownExpression):
        expressions.condition("github.token == 't'", failed=False)


# --- GitLab: extends, rules, variables, and the script under bash and sh ------------------

def load_gitlab_job(name: str = "codegen-hook") -> dict[str, Any]:
    """The job with `extends` resolved the way GitLab merges: mappings deep, lists replaced."""
    config: dict[str, Any] = yaml.safe_load(GITLAB.read_text())

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        merged = dict(base)
        for key, value in over.items():
            both = isinstance(value, dict) and isinstance(base.get(key), dict)
            merged[key] = merge(base[key], value) if both else value
        return merged

    job = dict(config[name])
    while "extends" in job:
        parent = config[job.pop("extends")]
        job = merge(parent, job)
    return job


def rule_matches(expression: str, env: Mapping[str, str]) -> bool:
    """The subset of GitLab's rules:if the template may use; anything else fails the test."""
    def term(text: str) -> bool:
        if m := re.fullmatch(r'\$(\w+)\s*(==|!=)\s*"([^"]*)"', text.strip()):
            return (env.get(m[1]) == m[3]) == (m[2] == "==")
        if m := re.fullmatch(r"\$(\w+)", text.strip()):
            return bool(env.get(m[1]))
        raise AssertionError(f"rules:if not understood: {text!r}")
    return any(all(term(t) for t in alt.split("&&")) for alt in expression.split("||"))


def job_added(job: dict[str, Any], env: Mapping[str, str]) -> bool:
    for rule in job["rules"]:
        assert set(rule) <= {"if", "when"}, rule
        if "if" not in rule or rule_matches(rule["if"], env):
            return rule.get("when", "on_success") != "never"
    return False


def expand(value: str, env: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m[1] or m[2]
        assert name in env, f"variable {name} is not set"
        return env[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, value)


def gitlab_env(tmp_path: Path, repo: Repo, python: Path, **project: str) -> dict[str, str]:
    """Predefined variables of a merge request pipeline plus project CI/CD variables."""
    predefined = {
        "PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "LANG": "C.UTF-8",
        "CI": "true", "GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_PROJECT_DIR": str(repo.path), "CI_PROJECT_ID": "42", "CI_PROJECT_PATH": "acme/w",
        "CI_SERVER_URL": "https://gitlab.example.com",
        "CI_API_V4_URL": "https://gitlab.example.com/api/v4", "CI_COMMIT_SHA": repo.head,
        "CI_MERGE_REQUEST_IID": "5", "CI_MERGE_REQUEST_DIFF_BASE_SHA": repo.base,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/stubs",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "CI_MERGE_REQUEST_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "42", "CI_JOB_TOKEN": "job-token",
        "CI_RUNNER_ID": "3", "FAKE_LOG": str(tmp_path / "fake.log")}
    project = {"CODEGEN_HOOK_FORGE_TOKEN": GL_TOKEN, "CODEGEN_HOOK_PYTHON": str(python),
               **project}
    env = dict(predefined)
    for key, value in load_gitlab_job()["variables"].items():
        if key not in project:            # project variables take precedence over the YAML's
            env[key] = expand(str(value), env)
    return {**env, **project}


def run_gitlab(repo: Repo, env: Mapping[str, str],
               shell: str = "bash") -> subprocess.CompletedProcess[str]:
    job = load_gitlab_job()
    assert job_added(job, env)
    script = repo.path.parent / "gitlab-script.sh"
    script.write_text("\n".join(job["script"]))
    command = ["bash", "-eo", "pipefail"] if shell == "bash" else ["sh", "-e"]
    return subprocess.run([*command, str(script)], cwd=repo.path, env=dict(env), text=True,
                          capture_output=True, timeout=60)


def gitlab_argv(repo: Repo, mode: str = "review", *more: str) -> list[str]:
    return ["ci", "--base", repo.base, "--head", repo.head, "--pr", "5", "--forge", "gitlab",
            "--mode", mode, "--branch", "feature/stubs", *more]


def test_every_expansion_in_the_scripts_is_quoted() -> None:
    scripts = [step["run"] for step in load_action()["runs"]["steps"] if "run" in step]
    scripts += load_gitlab_job()["script"]
    assert unquoted_expansions('a "$b" $c "$(d "$e")" $(f) \'$g\' # $h\n"${i[@]}" ${j}') == [
        "$c", "$(", "${j}"]
    found = [e for script in scripts for e in unquoted_expansions(script)]
    # The one word-split on purpose: the extra flags, under `set -f` (no globbing).
    assert found == ["$CODEGEN_HOOK_EXTRA_ARGS"]


def test_gitlab_template_jobs_variables_cache_and_artifacts() -> None:
    config = yaml.safe_load(GITLAB.read_text())
    assert set(config) == {".codegen-hook", "codegen-hook"}
    assert config["codegen-hook"] == {"extends": ".codegen-hook"}
    job = load_gitlab_job()
    variables = job["variables"]
    assert variables["GIT_DEPTH"] == "0" and variables["CODEGEN_HOOK_MODE"] == "review"
    assert variables["CODEGEN_HOOK_FAIL_ON_UNVERIFIED"] == "false"
    assert variables["CODEGEN_HOOK_VERSION"] == VERSION
    assert variables["CODEGEN_HOOK_PIP_SPEC"].endswith(VERSION)
    [tag] = job["tags"]
    assert tag.startswith("$") and tag[1:] in variables
    assert VERSION in job["cache"]["key"] and job["cache"]["paths"] == [".codegen-hook-venv/"]
    assert variables["CODEGEN_HOOK_VENV"] == "$CI_PROJECT_DIR/.codegen-hook-venv"
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["expire_in"]
    assert job["artifacts"]["paths"] == ["codegen-hook-out/"]
    # The template's own variables must never be read as codegen-hook settings.
    settings = {f.name for f in dataclasses.fields(Settings)}
    for name in variables:
        if name.startswith(ENV_PREFIX):
            assert name[len(ENV_PREFIX):].lower() not in settings, name
    assert "FORGE_TOKEN" not in "\n".join(job["script"])
    text = GITLAB.read_text()
    assert "CODEGEN_HOOK_FORGE_TOKEN" in text and "`api`" in text and "masked" in text


@pytest.mark.parametrize("source", ["merge_request_event", "push", "web", "schedule", "api",
                                    "trigger", "pipeline", "parent_pipeline", "chat",
                                    "external_pull_request_event", ""])
def test_gitlab_job_runs_only_in_merge_request_pipelines(source: str) -> None:
    added = job_added(load_gitlab_job(), {"CI_PIPELINE_SOURCE": source})
    assert added == (source == "merge_request_event")
    assert not job_added(load_gitlab_job(".codegen-hook"), {"CI_PIPELINE_SOURCE": "push"})


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_gitlab_job_reviews_the_merge_request(tmp_path: Path, repo: Repo, fakes: Path,
                                              shell: str) -> None:
    proc = run_gitlab(repo, gitlab_env(tmp_path, repo, fakes), shell)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [call] = read_log(tmp_path, "codegen-hook")
    assert call["argv"] == gitlab_argv(repo)
    assert call["env"]["CODEGEN_HOOK_FORGE_TOKEN"] == GL_TOKEN
    assert call["env"]["CI_API_V4_URL"] == "https://gitlab.example.com/api/v4"
    assert_token_only_in_env(tmp_path, GL_TOKEN, proc.stdout + proc.stderr)
    assert (repo.path / "codegen-hook-out" / "codegen-hook-report.json").exists()
    [venv] = read_log(tmp_path, "venv")
    assert venv["argv"] == ["-m", "venv", str(repo.path / ".codegen-hook-venv")]
    [pip] = read_log(tmp_path, "pip")
    assert pip["argv"][-1] == f"codegen-hook=={VERSION}"
    proc = run_gitlab(repo, gitlab_env(tmp_path, repo, fakes), shell)
    assert proc.returncode == 0 and len(read_log(tmp_path, "pip")) == 1, "venv reused"


def test_gitlab_job_fail_flag_extra_args_and_merged_results_head(tmp_path: Path, repo: Repo,
                                                                 fakes: Path) -> None:
    env = gitlab_env(tmp_path, repo, fakes, CODEGEN_HOOK_FAIL_ON_UNVERIFIED="true",
                     CODEGEN_HOOK_EXTRA_ARGS="--json  --sandbox docker *")
    env |= {"CI_COMMIT_SHA": repo.base, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": repo.head,
            "FAKE_EXIT": "1"}
    proc = run_gitlab(repo, env)
    assert proc.returncode == 1
    [call] = read_log(tmp_path, "codegen-hook")
    assert call["argv"] == gitlab_argv(repo, "review", "--fail-on-unverified", "--json",
                                       "--sandbox", "docker", "*")


def test_gitlab_fork_merge_request_falls_back_from_commit_to_patch(tmp_path: Path, repo: Repo,
                                                                   fakes: Path) -> None:
    env = gitlab_env(tmp_path, repo, fakes, CODEGEN_HOOK_MODE="commit")
    proc = run_gitlab(repo, env | {"CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "77"})
    assert proc.returncode == 0 and "comes from a fork" in proc.stdout
    assert read_log(tmp_path, "codegen-hook")[0]["argv"] == gitlab_argv(repo, "patch")
    proc = run_gitlab(repo, env)
    assert read_log(tmp_path, "codegen-hook")[1]["argv"] == gitlab_argv(repo, "commit")


def test_gitlab_missing_base_commit_says_to_set_git_depth(tmp_path: Path, repo: Repo,
                                                          fakes: Path) -> None:
    env = gitlab_env(tmp_path, repo, fakes)
    env["CI_MERGE_REQUEST_DIFF_BASE_SHA"] = "0123456789abcdef0123456789abcdef01234567"
    proc = run_gitlab(repo, env)
    assert proc.returncode == 2 and 'set GIT_DEPTH: "0"' in proc.stdout
    assert read_log(tmp_path, "codegen-hook") == []


def test_docs_examples_parse_and_match_the_templates() -> None:
    docs = (ROOT / "docs" / "ci.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", docs, re.S)]
    workflow = next(b for b in blocks if isinstance(b, dict) and "jobs" in b)
    assert list(workflow[True]) == ["pull_request"]          # YAML 1.1 reads `on` as True
    [job] = workflow["jobs"].values()
    assert job["runs-on"] == ["self-hosted", "codegen"]
    checkout, action, *_ = job["steps"]
    assert checkout["uses"] == "actions/checkout@v4"
    assert checkout["with"] == {"fetch-depth": 0,
                                "ref": "${{ github.event.pull_request.head.sha }}"}
    assert set(action["with"]) <= set(load_action()["inputs"])
    for name in load_action()["inputs"]:
        assert f"| `{name}` |" in docs, f"input {name} is not documented"
    gitlab = next(b for b in blocks if isinstance(b, dict) and "include" in b)
    assert gitlab["include"][0]["file"] == "ci/gitlab-codegen.yml"
    assert set(gitlab["codegen-hook"]["variables"]) <= set(load_gitlab_job()["variables"])
    for name in load_gitlab_job()["variables"]:
        assert f"| `{name}` |" in docs, f"variable {name} is not documented"
