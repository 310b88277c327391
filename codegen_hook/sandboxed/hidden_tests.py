"""Runs INSIDE the sandbox: a benchmark's hidden tests against one answer.

Shipped as /job/hidden_tests.py beside /job/score.json ({"token", "entry_point"}),
/job/answer.py (the module under test) and /job/check.py (the benchmark's `check`,
called with the entry point, or with its class when the entry point is a method).
It prints the run's token, then "passed", only after `check` returned: an answer that
calls `sys.exit(0)`, or kills its own process, never reads as a pass, whatever the
exit status says.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _run_file(name: str, globs: dict[str, Any]) -> None:
    """Run /job/`name` in `globs`: the tests see the answer's module namespace, as
    HumanEval's own harness runs them (some call the prompt's helpers)."""
    with open(os.path.join(HERE, name), encoding="utf-8") as handle:
        source = handle.read()
    exec(compile(source, os.path.join(HERE, name), "exec"), globs)


def main() -> None:
    with open(os.path.join(HERE, "score.json"), encoding="utf-8") as handle:
        spec = json.load(handle)
    token = spec.pop("token")   # out of reach of what runs next, but for this frame
    try:
        globs: dict[str, Any] = {"__name__": "__main__"}
        _run_file("answer.py", globs)
        _run_file("check.py", globs)
        # a method's check gets its class: `Class.method` -> Class
        globs["check"](globs[spec["entry_point"].split(".")[0]])
    except BaseException:   # SystemExit and KeyboardInterrupt included: no pass
        traceback.print_exc(limit=-3)
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    print("\n" + token + " passed", flush=True)


if __name__ == "__main__":
    main()
