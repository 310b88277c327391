"""The repository context a fill gets: the index refreshed first, retrieval in the
prompt, the style profile in the checks, and a fill that survives a broken index."""

from __future__ import annotations

from pathlib import Path

from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.checks import make_checks
from codegen_hook.config import Settings
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.pipeline.context import prepare_repo_context
from codegen_hook.pipeline.outcome import Event
from codegen_hook.pipeline.run import FillReport, fill_paths

HELPERS = '''
def slugify(title: str) -> str:
    """Turn a title into a URL slug: lower case, words joined by hyphens."""
    return "-".join(title.lower().split())
'''
STUB = '''

def post_slug(title: str) -> str:
    """The slug of a post's title, made with `slugify`.

    >>> post_slug("Hello World")
    'hello-world'
    """
    ...
'''
ANSWER = ("```python\ndef post_slug(title: str) -> str:\n"
          "    from pkg.text import slugify\n    return slugify(title)\n```")


def make_repo(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "text.py").write_text(HELPERS)
    stub = root / "pkg" / "posts.py"
    stub.write_text(STUB)
    return stub


def fill(root: Path, stub: Path, backend: ScriptedBackend, events: list[Event],
         **settings: object) -> FillReport:
    config = Settings(**{"candidates": 1, "max_rounds": 1, "checks": ("flake8",),
                         "generated_tests": False, **settings})  # type: ignore[arg-type]
    return fill_paths([stub], config, root, root.parent / "cache", lambda: backend,
                      BwrapSandbox, make_checks(config.checks, config.style), check_only=True,
                      progress=events.append)


def test_retrieved_helper_reaches_the_prompt_and_the_report(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    stub = make_repo(root)
    backend, events = ScriptedBackend([ANSWER]), []
    report = fill(root, stub, backend, events)
    prompt = backend.requests[0].messages[-1].content
    assert "from pkg.text import slugify  # def slugify(title: str) -> str" in prompt
    [outcome] = report.outcomes
    assert outcome.verdict == "verified"
    assert outcome.retrieved[0] == "pkg/text.py::slugify"
    assert report.index is not None and report.index.report is not None \
        and report.index.report.files == 3
    assert events[0].kind == "index" and "3 files" in events[0].message
    assert (root / ".codegen-hook" / "index" / "manifest").is_file()


def test_no_retrieval_when_the_budget_is_zero_or_the_index_is_off(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    stub = make_repo(root)
    for settings in ({"context_tokens": 0}, {"index": False}):
        backend: ScriptedBackend = ScriptedBackend([ANSWER])
        report = fill(root, stub, backend, [], **settings)
        assert "from pkg.text import slugify" not in backend.requests[0].messages[-1].content
        assert report.outcomes[0].retrieved == []
    assert not (root / ".codegen-hook").exists() or settings == {"index": False}


def test_a_broken_index_is_a_note_and_the_stub_is_still_filled(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    stub = make_repo(root)
    (root / ".codegen-hook").write_text("a file where the store's folder should be")
    backend, events = ScriptedBackend([ANSWER]), []
    report = fill(root, stub, backend, events)
    assert report.outcomes[0].verdict == "verified"
    assert "index is unavailable" in events[0].message
    assert report.index is not None and report.index.notes


def test_context_carries_style_even_without_an_index(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_repo(root)
    (root / "setup.cfg").write_text("[flake8]\nmax-line-length = 99\n")
    context = prepare_repo_context(Settings(index=False), root)
    assert context.search is None and context.report is None
    assert context.style is not None and "99" in str(context.style.to_json())
    context = prepare_repo_context(Settings(), root)
    assert context.search is not None and context.report is not None


def test_credentials_never_reach_the_prompt_and_are_counted(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    stub = make_repo(root)
    secret = "hunter2" + "Sekrit9"
    stub.write_text('def connect(url: str = "postgres://bob:' + secret + '@db/x") -> None:\n'
                    '    """Connect."""\n' + STUB)
    backend, events = ScriptedBackend([ANSWER]), []
    report = fill(root, stub, backend, events)
    prompt = "\n".join(m.content for m in backend.requests[0].messages)
    assert "postgres://bob:<redacted:url-password:1>@db/x" in prompt
    assert secret not in prompt
    assert set(report.outcomes[0].redactions) == {"url-password"}  # context + retrieval


def test_style_is_scored_and_reported_without_blocking_unless_enforced(
        tmp_path: Path) -> None:
    root = tmp_path / "repo"
    stub = make_repo(root)
    camel = ("```python\ndef post_slug(title: str) -> str:\n"
             "    from pkg.text import slugify\n    theSlug = slugify(title)\n"
             "    return theSlug\n```")
    report = fill(root, stub, ScriptedBackend([camel]), [], checks=("flake8", "style"))
    [outcome] = report.outcomes
    assert outcome.verdict == "verified"
    assert outcome.style_score is not None and outcome.style_score < 1.0
    [finding] = [f for f in outcome.checks if f.check == "style"]
    assert "the_slug" in finding.message and not finding.blocking
    enforced = fill(root, stub, ScriptedBackend([camel]), [], checks=("flake8", "style"),
                    style="enforce")
    assert enforced.outcomes[0].verdict == "unverified"
