"""Retrieval over a real index of a small repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen_hook.index.build import RepoIndex, load_index, refresh_index
from codegen_hook.index.search import (SymbolSearch, estimate_tokens, is_test_path,
                                       render_hits, split_words, stub_hits)

FILES = {
    "pkg/__init__.py": "",
    "pkg/text.py": '''
def slugify(title: str) -> str:
    """Turn a title into a URL slug: lower case, words joined by hyphens."""
    return "-".join(title.lower().split())


def count_words(text: str) -> int:
    """How many whitespace-separated words `text` has."""
    return len(text.split())
''',
    "pkg/dates.py": '''
import datetime


def parse_date(value: str) -> datetime.date:
    """Parse an ISO `YYYY-MM-DD` date string."""
    return datetime.date.fromisoformat(value)


class Calendar:
    """Working days."""

    def is_holiday(self, day: datetime.date) -> bool:
        """Whether `day` is a public holiday."""
        return False


def outer() -> None:
    def hidden_helper() -> None:
        """A local function: not something another module can call."""
''',
    "pkg/posts.py": '''
def post_url(title: str, day: str) -> str:
    """The URL of a post: its date and the slug of its title.

    Uses `parse_date` and `slugify`.
    """
    ...
''',
    "tests/test_text.py": '''
def test_slugify_title_words() -> None:
    assert True
''',
}


@pytest.fixture
def index(tmp_path: Path) -> RepoIndex:
    root = tmp_path / "repo"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    refresh_index(root, tmp_path / "store")
    return load_index(root, tmp_path / "store")


def test_split_words_handles_snake_camel_and_acronyms() -> None:
    assert split_words("parse_http_date parseHTTPDate") == [
        "parse", "http", "date", "parse", "http", "date"]
    assert split_words("the self of a x2 URLSlug") == ["url", "slug"]  # 1-letter parts go


def test_best_match_first_with_the_words_that_matched(index: RepoIndex) -> None:
    hits = SymbolSearch(index).search("make a slug for a url from a title", k=3)
    assert hits[0].symbol.qualname == "slugify" and hits[0].path == "pkg/text.py"
    assert {"slug", "title", "url"} <= set(hits[0].matched)
    assert hits[0].score > 0 and all(h.score <= hits[0].score for h in hits)
    assert hits[0].to_json()["line"] == 2


def test_stubs_locals_and_tests_are_left_out_unless_asked(index: RepoIndex) -> None:
    search = SymbolSearch(index)
    names = {s.qualname for _, s in search.entries}
    assert "post_url" not in names                       # a stub: nothing to learn from
    assert "outer.<locals>.hidden_helper" not in names  # cannot be called from outside
    assert "test_slugify_title_words" not in names
    with_tests = SymbolSearch(index, include_tests=True)
    assert "test_slugify_title_words" in {s.qualname for _, s in with_tests.entries}
    assert {"Calendar", "Calendar.is_holiday", "parse_date"} <= names


def test_unknown_words_and_an_empty_index_find_nothing(index: RepoIndex,
                                                       tmp_path: Path) -> None:
    assert SymbolSearch(index).search("zzyzx quux") == []
    assert SymbolSearch(RepoIndex(tmp_path, [], [])).search("slug") == []


def test_a_stub_gets_what_its_docstring_names_first_and_never_itself(
        index: RepoIndex) -> None:
    [stub] = [s for s in index.record("pkg/posts.py").content.symbols]  # type: ignore[union-attr]
    hits = stub_hits(SymbolSearch(index), "pkg/posts.py", stub.qualname, stub.signature,
                     stub.docstring or "")
    assert [h.symbol.name for h in hits[:2]] == ["parse_date", "slugify"]
    assert hits[0].reason == "named in the docstring"
    assert all(h.symbol.qualname != "post_url" for h in hits)


def test_render_keeps_to_the_budget_and_says_where_to_import_from(index: RepoIndex) -> None:
    hits = SymbolSearch(index).search("slug title url words date", k=10)
    text, used = render_hits(hits, budget_tokens=60)
    assert used and estimate_tokens(text) <= 60
    assert ("from pkg.text import slugify  # def slugify(title: str) -> str\n"
            "#     Turn a title into a URL slug: lower case, words joined by hyphens.") in text
    own, _ = render_hits(hits, 10_000, own_path="pkg/text.py")
    assert "# in this module: def slugify(title: str) -> str" in own
    assert render_hits(hits, 0) == ("", [])
    everything, all_used = render_hits(hits + hits, budget_tokens=10_000)
    assert len(all_used) == len(hits)  # duplicates shown once


def test_a_method_is_shown_with_its_class(index: RepoIndex) -> None:
    hits = SymbolSearch(index).search("public holiday day", k=1)
    text, _ = render_hits(hits, 200)
    assert ("# method of class Calendar (from pkg.dates import Calendar): "
            "def is_holiday(self, day: datetime.date) -> bool") in text


@pytest.mark.parametrize("path, expected", [
    ("tests/test_x.py", True), ("pkg/tests/helpers.py", True), ("test_x.py", True),
    ("conftest.py", True), ("pkg/x_test.py", True), ("pkg/testing.py", False),
    ("pkg/contest.py", False)])
def test_is_test_path(path: str, expected: bool) -> None:
    assert is_test_path(path) is expected
