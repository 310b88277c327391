"""extract_content: definitions from `ast`, comments/calls/quotes from the `_lex` scan."""

from __future__ import annotations

import hashlib
import io
import re
import sysconfig
import textwrap
import tokenize
from pathlib import Path

import pytest

from codegen_hook.index.extract import SkipFile, _decode, _lex, extract_content, file_hash
from codegen_hook.index.records import FileContent, Import, Param, Symbol


def content_of(source: str) -> FileContent:
    return extract_content(textwrap.dedent(source).lstrip("\n").encode())


def symbols_of(source: str) -> dict[str, Symbol]:
    return {s.qualname: s for s in content_of(source).symbols}


NESTED = """
    import os

    class Outer:
        class Inner:
            def method(self):
                pass

        def run(self):
            def helper():
                def deepest():
                    pass
            class Local:
                def go(self):
                    pass

    if os.name == "posix":
        def posix_only():
            pass
    else:
        def other():
            pass

    try:
        def in_try():
            pass
    except ImportError:
        def in_except():
            pass
    finally:
        def in_finally():
            pass

    with open(__file__) as handle:
        async def in_with():
            pass
"""


def test_qualified_names_cover_nested_classes_locals_and_blocks() -> None:
    symbols = symbols_of(NESTED)
    assert list(symbols) == [
        "Outer", "Outer.Inner", "Outer.Inner.method", "Outer.run",
        "Outer.run.<locals>.helper", "Outer.run.<locals>.helper.<locals>.deepest",
        "Outer.run.<locals>.Local", "Outer.run.<locals>.Local.go",
        "posix_only", "other", "in_try", "in_except", "in_finally", "in_with"]
    kinds = {name: s.kind for name, s in symbols.items()}
    assert kinds["Outer"] == kinds["Outer.Inner"] == "class"
    assert kinds["Outer.Inner.method"] == kinds["Outer.run"] == "method"
    assert kinds["Outer.run.<locals>.helper"] == "function"
    assert kinds["Outer.run.<locals>.Local.go"] == "method"
    assert kinds["posix_only"] == kinds["in_except"] == "function"
    assert symbols["in_with"].is_async and not symbols["in_try"].is_async
    assert symbols["Outer.run.<locals>.helper"].name == "helper"


def test_defs_in_compound_statements_come_in_source_order() -> None:
    content = content_of("""
        try:
            def a(): pass
        except ValueError:
            def b(): pass
        else:
            def c(): pass
        finally:
            def d(): pass
        for item in items:
            def e(): pass
        else:
            def f(): pass
        match value:
            case 1:
                def g(): pass
            case _:
                def h(): pass
    """)
    assert [s.name for s in content.symbols] == list("abcdefgh")
    starts = [s.line_start for s in content.symbols]
    assert starts == sorted(starts)


def test_defs_inside_an_if_in_a_class_are_methods() -> None:
    symbols = symbols_of("""
        class C:
            if True:
                def m(self):
                    pass
    """)
    assert symbols["C.m"].kind == "method"


def test_params_kinds_annotations_and_defaults() -> None:
    symbols = symbols_of("""
        def f(a, b: int = 2, /, c=3, *args: str, d, e: float = 1.5, **kw: object) -> list[int]:
            pass
    """)
    f = symbols["f"]
    assert f.params == (
        Param("a", "positional_only"),
        Param("b", "positional_only", "int", "2"),
        Param("c", "positional_or_keyword", None, "3"),
        Param("args", "var_positional", "str"),
        Param("d", "keyword_only"),
        Param("e", "keyword_only", "float", "1.5"),
        Param("kw", "var_keyword", "object"),
    )
    assert f.returns == "list[int]"
    assert f.signature == ("def f(a, b: int=2, /, c=3, *args: str, d, e: float=1.5, "
                           "**kw: object) -> list[int]")


def test_bare_star_and_no_return_annotation() -> None:
    f = symbols_of("def f(*, key=None):\n    pass\n")["f"]
    assert f.params == (Param("key", "keyword_only", None, "None"),)
    assert f.returns is None
    assert f.signature == "def f(*, key=None)"


def test_async_decorators_and_docstring() -> None:
    symbols = symbols_of('''
        import functools

        @functools.lru_cache(maxsize=2)
        @staticmethod
        async def fetch(url: str) -> bytes:
            """Fetch it.

            Second paragraph.
            """
            return b""
    ''')
    fetch = symbols["fetch"]
    assert fetch.is_async
    assert fetch.signature == "async def fetch(url: str) -> bytes"
    assert fetch.decorators == ("functools.lru_cache(maxsize=2)", "staticmethod")
    assert fetch.docstring == "Fetch it.\n\nSecond paragraph."
    assert fetch.line_start == 3  # the first decorator, not the def line
    assert fetch.line_end == 10


def test_class_bases_and_signature() -> None:
    symbols = symbols_of("""
        class Plain:
            pass

        class Child(base.Base, Mixin, metaclass=Meta):
            x = 1
    """)
    assert symbols["Plain"].bases == ()
    assert symbols["Plain"].signature == "class Plain"
    child = symbols["Child"]
    assert child.bases == ("base.Base", "Mixin", "metaclass=Meta")
    assert child.signature == "class Child(base.Base, Mixin, metaclass=Meta)"
    assert child.params == () and child.returns is None and not child.is_stub


def test_comment_block_directly_above_a_def_and_inside_it() -> None:
    symbols = symbols_of("""
        x = 1  # about x, not about f

        # unrelated: a blank line separates it

        # first line of f's block
        # second line of f's block
        @decorator
        # between decorator and def
        def f():
            # inside f
            return 1  # trailing in f
        # directly above g
        def g():
            pass
    """)
    assert symbols["f"].comments == (
        "# first line of f's block", "# second line of f's block",
        "# between decorator and def", "# inside f", "# trailing in f")
    assert symbols["g"].comments == ("# directly above g",)


def test_code_line_with_a_comment_above_a_def_does_not_join_its_block() -> None:
    symbols = symbols_of("""
        x = 1  # about x
        def f():
            pass
    """)
    assert symbols["f"].comments == ()


def test_hash_signs_inside_strings_are_not_comments() -> None:
    symbols = symbols_of('''
        def f(name):
            """Docstring with # no comment here."""
            a = "# double"
            b = '# single'
            c = f"{name} # f-string {name!r:#>10}"
            d = rb'# raw bytes'
            e = """
        # inside a triple-quoted string
            """
            g = \'\'\'# single triple\'\'\'
            h = "escaped \\" # still in the string"
            i = "continued \\
        # still the string"
            """A bare string statement # not a comment."""
            return a  # the only comment
    ''')
    assert symbols["f"].comments == ("# the only comment",)
    assert symbols["f"].docstring == "Docstring with # no comment here."


def test_docstring_is_not_taken_for_a_comment() -> None:
    content = content_of('''
        """Module docstring."""

        """A second string, an ast.Expr."""
        def f():
            """Doc of f."""
    ''')
    (f,) = content.symbols
    assert f.comments == ()
    assert f.docstring == "Doc of f."


def test_calls_are_dotted_names_in_first_seen_order() -> None:
    symbols = symbols_of("""
        import os

        class C:
            def method(self, a, b):
                self.helper(a)
                value = os.path.join(a, b)
                os . path . exists (value)
                if (a):
                    return (len(a))
                while (b):
                    b = not (b)
                assert (a), "x"
                self.helper(b)
                return print (value)

            def helper(self, x):
                pass
    """)
    method = symbols["C.method"]
    assert method.calls == ("self.helper", "os.path.join", "os.path.exists", "len", "print")
    assert symbols["C.helper"].calls == ()
    # the class spans its methods, so their calls are the class's too
    assert symbols["C"].calls == method.calls


def test_def_and_class_names_are_not_calls_but_decorators_and_bases_are() -> None:
    symbols = symbols_of("""
        @register("x")
        class Thing(make_base()):
            def run(self):
                pass
    """)
    assert symbols["Thing"].calls == ("register", "make_base")
    assert symbols["Thing.run"].calls == ()


def test_calls_inside_strings_and_comments_are_not_counted() -> None:
    symbols = symbols_of("""
        def f():
            text = "fake(1)"  # other(2)
            return real(text)
    """)
    assert symbols["f"].calls == ("real",)


def test_imports_plain_from_relative_and_inside_functions() -> None:
    content = content_of("""
        import os
        import os.path as osp, sys
        from collections import OrderedDict as OD, deque
        from . import sibling
        from ..pkg.mod import thing

        try:
            import ujson as json
        except ImportError:
            import json

        def lazy():
            from heavy import engine
    """)
    assert content.imports == (
        Import("os", None, None, 0, 1),
        Import("os.path", None, "osp", 0, 2),
        Import("sys", None, None, 0, 2),
        Import("collections", "OrderedDict", "OD", 0, 3),
        Import("collections", "deque", None, 0, 3),
        Import("", "sibling", None, 1, 4),
        Import("pkg.mod", "thing", None, 2, 5),
        Import("ujson", None, "json", 0, 8),
        Import("json", None, None, 0, 10),
        Import("heavy", "engine", None, 0, 13),
    )


def test_module_constants_are_top_level_assigned_names() -> None:
    content = content_of("""
        MAX = 10
        TIMEOUT: float = 1.5
        DECLARED: int
        MAX = 11
        a, b = 1, 2
        obj.attr = 3

        def f():
            LOCAL = 1

        class C:
            FIELD = 2
    """)
    assert content.constants == ("MAX", "TIMEOUT", "DECLARED")


def test_line_ranges_and_file_line_count() -> None:
    content = content_of("""
        import os


        def first():
            return 1


        @deco
        def second():
            x = (
                1,
            )
            return x
    """)
    ranges = {s.qualname: (s.line_start, s.line_end) for s in content.symbols}
    assert ranges == {"first": (4, 5), "second": (8, 13)}
    assert content.lines == 13


def test_is_stub_only_for_docstring_and_ellipsis_bodies() -> None:
    symbols = symbols_of('''
        def stub_with_doc(x: int) -> int:
            """Return x doubled."""
            ...

        def bare_stub(): ...

        def with_pass():
            """Doc."""
            pass

        def only_doc():
            """Doc."""

        def filled():
            """Doc."""
            return 1

        def ellipsis_and_more():
            ...
            return 2

        class Protocolish:
            def m(self) -> None: ...
    ''')
    stubs = {name for name, s in symbols.items() if s.is_stub}
    assert stubs == {"stub_with_doc", "bare_stub", "Protocolish.m"}


def test_symbol_hash_follows_the_definition_text_not_its_position() -> None:
    base = "def f(x):\n    return x\n\ndef g():\n    pass\n"
    before = {s.name: s.hash for s in extract_content(base.encode()).symbols}
    changed = {s.name: s.hash
               for s in extract_content(base.replace("return x", "return -x").encode()).symbols}
    moved = {s.name: s.hash for s in extract_content(("\n\n" + base).encode()).symbols}
    assert changed["f"] != before["f"] and changed["g"] == before["g"]
    assert moved == before
    assert before["g"] == hashlib.sha256(b"def g():\n    pass").hexdigest()


def test_file_hash_is_sha256_of_the_bytes() -> None:
    data = b"x = 1\n"
    assert extract_content(data).hash == file_hash(data) == hashlib.sha256(data).hexdigest()


def test_quotes_count_single_line_strings_only() -> None:
    content = content_of('''
        """Module docstring: triple quotes are not counted."""
        a = 'one'
        b = "two"
        c = "three" + 'four' + f"five" + rb'six'
        d = \'\'\'triple single\'\'\'
        # "quotes" in a comment are not strings
    ''')
    assert content.quotes == {"single": 3, "double": 3}


def test_long_lines_and_longest_line() -> None:
    lines = ["x = 1", "y = '" + "a" * 80 + "'", "z = '" + "b" * 110 + "'"]
    content = extract_content(("\n".join(lines) + "\n").encode())
    assert content.longest_line == 116
    assert content.long_lines == {"79": 2, "88": 1, "99": 1, "100": 1, "120": 0}


def test_crlf_file_gives_the_same_lines_as_lf() -> None:
    source = textwrap.dedent('''
        # above
        def f(a):
            """Doc."""
            # inside
            return g(a)

        class C:
            def m(self):
                return self.f()
    ''').lstrip("\n")
    lf = extract_content(source.encode())
    crlf = extract_content(source.replace("\n", "\r\n").encode())
    assert [(s.qualname, s.line_start, s.line_end, s.comments, s.calls, s.hash, s.docstring)
            for s in crlf.symbols] == \
        [(s.qualname, s.line_start, s.line_end, s.comments, s.calls, s.hash, s.docstring)
         for s in lf.symbols]
    assert crlf.lines == lf.lines == 9
    assert crlf.symbols[0].comments == ("# above", "# inside")
    assert crlf.hash != lf.hash  # the file hash is of the bytes as they are


def test_bom_prefixed_utf8_file_is_indexed() -> None:
    data = "\ufeff# -*- coding: utf-8 -*-\ndef café():\n    return 'é'\n".encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    content = extract_content(data)
    assert [s.qualname for s in content.symbols] == ["café"]
    assert content.symbols[0].comments == ("# -*- coding: utf-8 -*-",)
    assert content.hash == file_hash(data)


def test_latin1_coding_cookie_is_honoured() -> None:
    data = "# coding: latin-1\nNAME = 'Zoë'\n".encode("latin-1")
    assert extract_content(data).constants == ("NAME",)


@pytest.mark.parametrize("data, expected", [
    (b"x = 1\n\0\n", "binary file (NUL bytes)"),
    (b"# -*- coding: no-such-codec -*-\nx = 1\n", "not readable as Python source text"),
    (b"x = 1\ny = 2\nz = '\xff\xfe'\n", "not readable as Python source text"),
    (b"\xff\xfe = 1\n", "not readable as Python source text"),
])
def test_undecodable_files_are_skipped_with_a_reason(data: bytes, expected: str) -> None:
    with pytest.raises(SkipFile, match=re.escape(expected)):
        extract_content(data)


def test_bad_coding_cookie_reason_names_the_codec() -> None:
    with pytest.raises(SkipFile) as info:
        extract_content(b"# coding: no-such-codec\n")
    assert "no-such-codec" in str(info.value)


def test_syntax_error_is_skipped_with_its_line() -> None:
    with pytest.raises(SkipFile) as info:
        extract_content(b"x = 1\n\ndef broken(:\n    pass\n")
    assert str(info.value).startswith("syntax error on line 3: ")


def test_lexer_yields_exactly_tokenizes_comments_over_the_stdlib() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.glob("*.py"))
    assert len(files) > 100
    mismatched = []
    for path in files:
        data = path.read_bytes()
        text = _decode(data)
        expected = [(tok.start[0], tok.string)
                    for tok in tokenize.generate_tokens(io.StringIO(text).readline)
                    if tok.type == tokenize.COMMENT]
        lexed = _lex(text)
        if list(zip(lexed.comment_lines, lexed.comments)) != expected:
            mismatched.append(path.name)
    assert mismatched == []
