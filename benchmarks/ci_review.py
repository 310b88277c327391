"""Time from `codegen-hook ci` start to review posted, for a pull request adding three stubs.

A real git repository (main, and a branch adding three stubs to a module), the real
embedded model and sandbox, and GitHub's review API played on loopback by the test
suite's fake (tests/forges/servers.py: the request and response shapes of the API
docs). Prints the seconds and the review as it would appear: the summary comment and
each suggestion's markdown.

    .venv/bin/python benchmarks/ci_review.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codegen_hook.cli import main as cli_main  # noqa: E402
from tests.forges.servers import FakeGitHub, serve  # noqa: E402

BASE = '''"""Small text and number helpers."""


def shout(text: str) -> str:
    """Upper-case `text` and add an exclamation mark."""
    return text.upper() + "!"
'''
STUBS = '''

def word_count(text: str) -> int:
    """Count the words in `text`: runs of characters between whitespace.

    >>> word_count("a b  c")
    3
    >>> word_count("   ")
    0
    """
    ...


def is_palindrome(text: str) -> bool:
    """Whether `text` reads the same backwards, ignoring case and spaces.

    >>> is_palindrome("Never odd or even")
    True
    >>> is_palindrome("abc")
    False
    """
    ...


def clamp(x: float, low: float, high: float) -> float:
    """`x` limited to the range low..high.

    >>> clamp(5, 0, 3)
    3
    >>> clamp(-1, 0, 3)
    0
    >>> clamp(2, 0, 3)
    2
    """
    ...
'''
GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


def make_repo(work: Path) -> tuple[str, str]:
    git("init", "-q", "-b", "main", cwd=work)
    (work / "textutil.py").write_text(BASE)
    git("add", ".", cwd=work)
    git("commit", "-qm", "base", cwd=work)
    base = git("rev-parse", "HEAD", cwd=work).strip()
    git("checkout", "-qb", "feature", cwd=work)
    (work / "textutil.py").write_text(BASE + STUBS)
    git("commit", "-qam", "three stubs", cwd=work)
    head = git("rev-parse", "HEAD", cwd=work).strip()
    git("checkout", "-q", "--detach", head, cwd=work)
    return base, head


def github_patch(work: Path, base: str, head: str, path: str) -> str:
    """The `patch` field GitHub gives a file: the diff from its first hunk on."""
    diff = git("diff", f"{base}...{head}", "--", path, cwd=work)
    return diff[diff.index("@@"):]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codegen-hook-ci-bench-") as tmp, serve() as api:
        work = Path(tmp) / "repo"
        work.mkdir()
        base, head = make_repo(work)
        hub = FakeGitHub(api)
        hub.add_file("textutil.py", github_patch(work, base, head, "textutil.py"))
        event = Path(tmp) / "event.json"
        event.write_text(json.dumps({"pull_request": {"number": 7}}))
        os.environ.update({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo/hello",
                           "GITHUB_API_URL": hub.api_url, "GITHUB_EVENT_PATH": str(event),
                           "GITHUB_TOKEN": "bench-token"})
        os.chdir(work)
        start = time.perf_counter()
        code = cli_main(["ci", "--base", base, "--head", head, "--mode", "review",
                         "--out", str(Path(tmp) / "out")])
        seconds = time.perf_counter() - start
        report: dict[str, Any] = json.loads((Path(tmp) / "out" /
                                             "codegen-hook-report.json").read_text())
        comments = [c["body"] for review in hub.reviews for c in review["comments"]]
        summary = hub.issue_comments[-1]["body"] if hub.issue_comments else ""
    result = {"seconds": round(seconds, 1), "exit_code": code, "counts": report["counts"],
              "stub_seconds": [round(s["timings"].get("total_s", 0.0), 1)
                               for s in report["stubs"]],
              "summary": summary, "comments": comments}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"ci start to review posted: {seconds:.1f} s (exit {code}); "
          f"{report['counts']}; per stub {result['stub_seconds']} s\n")
    print("---- summary comment ----\n" + summary)
    for body in comments:
        print("---- review comment ----\n" + body)


if __name__ == "__main__":
    main()
