"""Foundation figures on this machine, measured, printed (never asserted in a test).

    .venv/bin/python benchmarks/foundation.py [--json] [--skip-commit] [--skip-examples]

Measures: model assembly time (fresh data dir), model load time, prompt and decode
tokens/s, seconds from `git commit` to the filled file for the strawberry stub (real
pre-commit, real model, bwrap), and how many stubs in examples/ come back verified.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from codegen_hook.backends.llama import LlamaCppBackend
from codegen_hook.models import DEFAULT_MODEL, ensure_model

ROOT = Path(__file__).resolve().parents[1]
PROMPT = ("Write a Python function `merge_sorted(a: list[int], b: list[int]) -> list[int]` "
          "that merges two sorted lists into one sorted list, with a docstring.")


def measure_model(folder: Path) -> tuple[Path, dict[str, float]]:
    start = time.perf_counter()
    path = ensure_model(DEFAULT_MODEL, folder)
    assembly = time.perf_counter() - start
    backend = LlamaCppBackend(path)
    llama = backend._load()
    out = llama.create_completion(PROMPT * 8, max_tokens=1, temperature=0.0)
    llama.reset()
    start = time.perf_counter()
    out = llama.create_completion(PROMPT * 8, max_tokens=1, temperature=0.0)
    prefill = time.perf_counter() - start
    prompt_tokens = out["usage"]["prompt_tokens"]
    llama.reset()
    start = time.perf_counter()
    out = llama.create_completion(PROMPT, max_tokens=200, temperature=0.0, stop=[])
    total = time.perf_counter() - start
    made = out["usage"]["completion_tokens"]
    return path, {"assembly_s": assembly, "load_s": backend.load_seconds,
                  "prompt_tokens_per_s": prompt_tokens / prefill,
                  "decode_tokens_per_s": made / total, "decode_tokens": made}


def measure_commit(model: Path, work: Path) -> dict[str, Any]:
    hooks = work / "hooks"
    hooks.mkdir()
    shutil.copy(ROOT / ".pre-commit-hooks.yaml", hooks)
    env = dict(os.environ, CODEGEN_HOOK_MODEL=str(model), GIT_AUTHOR_NAME="b",
               GIT_AUTHOR_EMAIL="b@example.com", GIT_COMMITTER_NAME="b",
               GIT_COMMITTER_EMAIL="b@example.com",
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])

    def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True,
                              text=True)

    git(hooks, "init", "-q", "-b", "main")
    git(hooks, "add", ".")
    git(hooks, "commit", "-q", "-m", "hooks")
    rev = git(hooks, "rev-parse", "HEAD").stdout.strip()
    repo = work / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hooks}\n  rev: {rev}\n  hooks:\n  - id: codegen-hook-system\n")
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=repo, env=env,
                   check=True, capture_output=True)
    git(repo, "add", ".pre-commit-config.yaml")
    git(repo, "commit", "-q", "-m", "config")  # pre-commit builds its env here, not timed
    shutil.copy(ROOT / "examples" / "strings.py", repo / "strings.py")
    git(repo, "add", "strings.py")
    start = time.perf_counter()
    proc = git(repo, "commit", "-m", "stub")
    seconds = time.perf_counter() - start
    filled = "    ...\n" not in (repo / "strings.py").read_text()
    return {"commit_to_filled_s": seconds, "commit_blocked": proc.returncode != 0,
            "filled": filled}


def measure_examples(model: Path, work: Path) -> dict[str, Any]:
    folder = work / "examples"
    shutil.copytree(ROOT / "examples", folder)
    files = sorted(str(p) for p in folder.glob("*.py"))
    env = dict(os.environ, CODEGEN_HOOK_MODEL=str(model))
    start = time.perf_counter()
    command = str(Path(sys.executable).parent / "codegen-hook")  # -m would put cwd on sys.path
    proc = subprocess.run([command, "fill", "--check", "--json", *files], cwd=folder, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if not proc.stdout.strip():
        raise SystemExit(f"fill printed nothing: {proc.stderr[-2000:]}")
    stubs = json.loads(proc.stdout)["stubs"]
    times = [s["timings"].get("total_s", 0.0) for s in stubs]
    boxed = [s["timings"].get("sandbox_s", 0.0) for s in stubs]
    return {"examples_stubs": len(stubs),
            "examples_verified": sum(s["verdict"] == "verified" for s in stubs),
            "examples_wall_s": wall, "examples_median_stub_s": statistics.median(times),
            # the sandbox's share of fill time over these stubs (the issue's <= 10% goal)
            "examples_sandbox_share": sum(boxed) / max(sum(times), 1e-9),
            "examples_median_stub_sandbox_share": statistics.median(
                b / t for b, t in zip(boxed, times) if t),
            "examples_not_verified": [
                f"{Path(s['file']).name}::{s['qualname']}: {s['verdict']}: "
                + (s["reasons"][0].splitlines()[-1] if s["reasons"] else "")
                for s in stubs if s["verdict"] != "verified"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-commit", action="store_true")
    parser.add_argument("--skip-examples", action="store_true")
    parser.add_argument("--sandbox", choices=("auto", "docker", "bwrap"), default="auto")
    args = parser.parse_args()
    os.environ["CODEGEN_HOOK_SANDBOX"] = args.sandbox
    with tempfile.TemporaryDirectory(prefix="codegen-hook-bench-") as tmp:
        work = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")  # pre-commit's env store
        os.environ["CODEGEN_HOOK_DATA_DIR"] = str(work / "data")
        model, figures = measure_model(work / "data")
        if not args.skip_commit:
            figures.update(measure_commit(model, work))
        if not args.skip_examples:
            figures.update(measure_examples(model, work))
    figures["sandbox_setting"] = args.sandbox
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            shown = f"{value:.2f}" if isinstance(value, float) else value
            print(f"{key:28} {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
