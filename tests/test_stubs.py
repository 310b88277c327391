"""Finding stubs and splicing bodies back without touching any other byte."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from codegen_hook.errors import FileChangedError, SourceError
from codegen_hook.stubs import SourceFile, Stub, find_stubs, splice_bodies, split_lines_keepends


def _only(text: str) -> Stub:
    scan = find_stubs(text)
    assert len(scan.stubs) == 1, scan
    return scan.stubs[0]


def _names(text: str) -> list[str]:
    return [s.qualname for s in find_stubs(text).stubs]


# --- find_stubs -----------------------------------------------------------------


def test_top_level_stub_located_by_lines() -> None:
    text = (
        "import os\n"
        "\n"
        "\n"
        "def count(s: str, c: str) -> int:\n"
        '    """Count c in s."""\n'
        "    ...\n"
        "\n"
        "x = 1\n"
    )
    stub = _only(text)
    assert stub.name == stub.qualname == "count"
    assert (stub.def_line, stub.start_line, stub.ellipsis_line, stub.end_line) == (4, 4, 6, 6)
    assert stub.body_indent == "    "
    assert stub.docstring == "Count c in s."
    assert not stub.is_async and not stub.is_method and stub.class_names == ()
    assert stub.source == 'def count(s: str, c: str) -> int:\n    """Count c in s."""\n    ...\n'


def test_decorated_stub_starts_at_first_decorator() -> None:
    text = (
        "import functools\n"
        "@functools.cache\n"
        "@staticmethod\n"
        "def f() -> int:\n"
        '    """Doc."""\n'
        "    ...\n"
    )
    stub = _only(text)
    assert (stub.start_line, stub.def_line, stub.end_line) == (2, 4, 6)
    assert stub.source.startswith("@functools.cache\n")


def test_methods_nested_classes_and_async() -> None:
    text = '''class Outer:
    def method(self) -> int:
        """A method."""
        ...

    class Inner:
        async def deep(self) -> None:
            """Deep."""
            ...
'''
    stubs = find_stubs(text).stubs
    assert [s.qualname for s in stubs] == ["Outer.method", "Outer.Inner.deep"]
    method, deep = stubs
    assert method.is_method and method.class_names == ("Outer",)
    assert method.body_indent == "        " and not method.is_async
    assert deep.class_names == ("Outer", "Inner") and deep.is_async
    assert deep.body_indent == " " * 12
    assert deep.name == "deep"


def test_functions_inside_if_try_with_blocks() -> None:
    text = '''import sys
if sys.platform == "linux":
    def a() -> None:
        """A."""
        ...
else:
    def b() -> None:
        """B."""
        ...
try:
    def c() -> None:
        """C."""
        ...
except ImportError:
    def d() -> None:
        """D."""
        ...
finally:
    def e() -> None:
        """E."""
        ...
with open(__file__) as fh:
    def g() -> None:
        """G."""
        ...
'''
    assert sorted(_names(text)) == ["a", "b", "c", "d", "e", "g"]


def test_filled_and_non_stub_functions_are_ignored() -> None:
    text = '''def filled(x: int) -> int:
    """Doc."""
    return x


def no_doc() -> None:
    ...


def only_doc() -> None:
    """Only a docstring."""


def passing() -> None:
    """Doc."""
    pass


def more() -> int:
    """Doc."""
    x = 1
    ...


def bytes_doc() -> None:
    b"""Not a docstring."""
    ...
'''
    scan = find_stubs(text)
    assert scan.stubs == [] and scan.skipped == []


def test_function_nested_in_function_is_not_a_stub() -> None:
    text = '''def outer() -> None:
    def inner() -> None:
        """Inner."""
        ...
    return None


def outer_stub() -> None:
    """Outer."""
    ...
'''
    assert _names(text) == ["outer_stub"]


def test_abstract_overload_and_protocol_are_interfaces() -> None:
    text = '''import abc
import typing
from typing import Protocol, overload


class Base(abc.ABC):
    @abc.abstractmethod
    def run(self) -> None:
        """Run."""
        ...

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Size."""
        ...

    def concrete(self) -> int:
        """A real stub beside abstract ones."""
        ...


@overload
def f(x: int) -> int:
    """Int."""
    ...
@typing.overload
def f(x: str) -> str:
    """Str."""
    ...


class Reader(Protocol):
    def read(self) -> bytes:
        """Read."""
        ...


class Writer(typing.Protocol):
    def write(self, data: bytes) -> None:
        """Write."""
        ...
'''
    scan = find_stubs(text)
    assert [s.qualname for s in scan.stubs] == ["Base.concrete"]
    assert scan.skipped == []


def test_class_nested_in_protocol_is_not_a_protocol() -> None:
    text = '''from typing import Protocol


class P(Protocol):
    class Helper:
        def make(self) -> int:
            """Make."""
            ...
'''
    assert _names(text) == ["P.Helper.make"]


def test_generic_protocol_methods_are_interfaces() -> None:
    text = '''from typing import Protocol, TypeVar

T = TypeVar("T")


class Box(Protocol[T]):
    def get(self) -> T:
        """Get."""
        ...
'''
    assert _names(text) == []


def test_ellipsis_sharing_a_line_with_the_docstring_is_skipped() -> None:
    text = 'def f() -> None:\n    """Doc."""; ...\n\n\ndef g() -> None:\n    """G."""\n    ...\n'
    scan = find_stubs(text)
    assert [s.qualname for s in scan.stubs] == ["g"]
    assert len(scan.skipped) == 1
    skipped = scan.skipped[0]
    assert skipped.qualname == "f" and skipped.line == 1
    assert "`...`" in skipped.reason and "line" in skipped.reason


def test_multiline_docstring_closing_on_the_ellipsis_line_is_skipped() -> None:
    text = 'class C:\n    def f(self) -> None:\n        """Doc.\n        """; ...\n'
    scan = find_stubs(text)
    assert scan.stubs == []
    assert [(s.qualname, s.line) for s in scan.skipped] == [("C.f", 2)]


def test_ellipsis_sharing_a_line_with_other_code_is_skipped() -> None:
    text = '''class C:
    def a(self) -> None:
        """Doc."""
        ...; x = 1
'''
    # `...; x = 1` is three statements, so not a stub; a trailing `;` keeps it two
    assert find_stubs(text).stubs == []
    text2 = '''class C:
    def a(self) -> None:
        """Doc."""
        ...;
'''
    scan = find_stubs(text2)
    assert scan.stubs == []
    assert [(s.qualname, s.line) for s in scan.skipped] == [("C.a", 2)]
    assert "own" in scan.skipped[0].reason


def test_one_line_def_is_skipped_with_reason() -> None:
    text = 'def f() -> None: """Doc."""; ...\n'
    scan = find_stubs(text)
    assert scan.stubs == []
    assert [(s.qualname, s.line) for s in scan.skipped] == [("f", 1)]
    assert scan.skipped[0].reason


def test_parenthesised_multiline_ellipsis_is_skipped_or_spliced_whole() -> None:
    text = 'def f() -> int:\n    """Doc."""\n    (\n        ...\n    )\n'
    scan = find_stubs(text)
    if scan.stubs:
        out = splice_bodies(text, [(scan.stubs[0], "return 1")], "\n")
        compile(out, "<spliced>", "exec")
    else:
        assert [s.qualname for s in scan.skipped] == ["f"]


def test_trailing_comment_after_ellipsis_is_still_a_stub() -> None:
    text = 'def f() -> int:\n    """Doc."""\n    ...  # TODO fill me\n'
    stub = _only(text)
    assert stub.ellipsis_line == 3


def test_syntax_error_raises_source_error_with_location() -> None:
    with pytest.raises(SourceError, match=r"broken\.py:3: syntax error"):
        find_stubs("x = 1\n\ndef f(:\n    pass\n", "broken.py")


def test_split_lines_keepends_matches_parser_line_breaks() -> None:
    text = "a\r\nb\rc\nd\x0ce\u2028f"
    assert split_lines_keepends(text) == ["a\r\n", "b\r", "c\n", "d\x0ce\u2028f"]
    assert split_lines_keepends("") == []


def test_unusual_line_separators_do_not_shift_line_numbers() -> None:
    # \x0c and \u2028 are not line breaks for the parser; they must not be for us
    text = '# a\x0cb \u2028 c\ndef f() -> None:\n    """Doc."""\n    ...\n'
    stub = _only(text)
    assert stub.ellipsis_line == 4
    out = splice_bodies(text, [(stub, "return None")], "\n")
    assert out == text.replace("    ...\n", "    return None\n")


# --- splice_bodies --------------------------------------------------------------


def test_splice_keeps_every_other_byte() -> None:
    text = (
        "# header comment\n"
        "import os  # keep\n"
        "\n"
        "def f(x: int) -> int:  # trailing\n"
        '    """Doc with   spaces.   \n'
        "\n"
        '    """\n'
        "    # a comment before the ellipsis\n"
        "    ...\n"
        "\n"
        "\n"
        "y = [1,2 ,3]   # odd spacing\n"
    )
    stub = _only(text)
    out = splice_bodies(text, [(stub, "z = x + 1\nreturn z")], "\n")
    assert out == text.replace("    ...\n", "    z = x + 1\n    return z\n")


def test_splice_trailing_comment_after_ellipsis_is_replaced() -> None:
    text = 'def f() -> int:\n    """Doc."""\n    ...  # fill me\n# after\n'
    stub = _only(text)
    out = splice_bodies(text, [(stub, "return 1")], "\n")
    assert out == 'def f() -> int:\n    """Doc."""\n    return 1\n# after\n'


def test_splice_blank_lines_stay_empty() -> None:
    text = 'class C:\n    def f(self) -> int:\n        """Doc."""\n        ...\n'
    stub = _only(text)
    body = "\n\nx = 1\n\n    \nif x:\n    x += 1\n\nreturn x\n\n"
    out = splice_bodies(text, [(stub, body)], "\n")
    assert out == (
        'class C:\n    def f(self) -> int:\n        """Doc."""\n'
        "        x = 1\n"
        "\n"
        "\n"
        "        if x:\n"
        "            x += 1\n"
        "\n"
        "        return x\n"
    )
    assert not any(line != line.rstrip() for line in out.split("\n"))


def test_splice_crlf_file() -> None:
    text = (
        "# c\r\n"
        "def f() -> int:\r\n"
        '    """Doc.\r\n'
        '    """\r\n'
        "    ...\r\n"
        "\r\n"
        "x = 1\r\n"
    )
    stub = _only(text)
    assert stub.ellipsis_line == 5
    out = splice_bodies(text, [(stub, "a = 1\n\nreturn a")], "\r\n")
    assert out == text.replace("    ...\r\n", "    a = 1\r\n\r\n    return a\r\n")
    assert "\n" not in out.replace("\r\n", "")


def test_splice_cr_only_file() -> None:
    text = '# c\rdef f() -> int:\r    """Doc."""\r    ...\rx = 1\r'
    stub = _only(text)
    assert stub.ellipsis_line == 4
    out = splice_bodies(text, [(stub, "a = 1\nreturn a")], "\r")
    assert out == '# c\rdef f() -> int:\r    """Doc."""\r    a = 1\r    return a\rx = 1\r'


def test_splice_ellipsis_on_last_line_without_newline() -> None:
    text = 'def f() -> int:\n    """Doc."""\n    ...'
    stub = _only(text)
    out = splice_bodies(text, [(stub, "return 1")], "\n")
    assert out == 'def f() -> int:\n    """Doc."""\n    return 1'


def test_splice_several_stubs_in_one_file() -> None:
    text = '''def a() -> int:
    """A."""
    ...


class K:
    def b(self) -> int:
        """B."""
        ...

    def c(self) -> int:
        """C."""
        ...  # c
'''
    stubs = find_stubs(text).stubs
    assert [s.qualname for s in stubs] == ["a", "K.b", "K.c"]
    a, b, c = stubs
    # given in an arbitrary order, multi-line bodies must not shift the others
    out = splice_bodies(text, [(b, "x = 2\n\nreturn x"), (a, "y = 1\nz = y\nreturn z"),
                               (c, "return 3")], "\n")
    assert out == '''def a() -> int:
    """A."""
    y = 1
    z = y
    return z


class K:
    def b(self) -> int:
        """B."""
        x = 2

        return x

    def c(self) -> int:
        """C."""
        return 3
'''
    compile(out, "<spliced>", "exec")
    assert find_stubs(out).stubs == []


def test_splice_with_no_bodies_returns_text_unchanged() -> None:
    text = 'def a() -> int:\r\n    """A."""\r\n    ...\r\n'
    assert splice_bodies(text, [], "\r\n") == text


# --- SourceFile -----------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty folder of its own (tmp_path also holds the isolated HOME)."""
    path = tmp_path / "src"
    path.mkdir()
    return path


def _fill_one(path: Path, body: str) -> SourceFile:
    source = SourceFile.read(path)
    stub = _only(source.text)
    source.write_text(splice_bodies(source.text, [(stub, body)], source.newline))
    return source


def test_source_file_reads_utf8_and_newline(folder: Path) -> None:
    path = folder / "m.py"
    path.write_bytes(b"x = '\xc3\xa9'\r\ny = 2\r\n")
    source = SourceFile.read(path)
    assert source.encoding == "utf-8"
    assert source.newline == "\r\n"
    assert source.text == "x = '\u00e9'\r\ny = 2\r\n"
    assert source.raw == path.read_bytes()
    assert source.path == path


def test_source_file_newline_defaults_to_lf(folder: Path) -> None:
    path = folder / "m.py"
    path.write_bytes(b"x = 1")
    assert SourceFile.read(path).newline == "\n"


def test_round_trip_crlf_file_on_disk(folder: Path) -> None:
    path = folder / "m.py"
    original = b'# keep\r\ndef f() -> int:\r\n    """Doc."""\r\n    ...\r\n\r\nz = 0\r\n'
    path.write_bytes(original)
    _fill_one(path, "a = 1\nreturn a")
    assert path.read_bytes() == original.replace(b"    ...\r\n",
                                                 b"    a = 1\r\n    return a\r\n")


def test_round_trip_cr_only_file_on_disk(folder: Path) -> None:
    path = folder / "m.py"
    original = b'def f() -> int:\r    """Doc."""\r    ...\r# end\r'
    path.write_bytes(original)
    source = _fill_one(path, "return 1")
    assert source.newline == "\r"
    assert path.read_bytes() == b'def f() -> int:\r    """Doc."""\r    return 1\r# end\r'


def test_round_trip_keeps_utf8_bom(folder: Path) -> None:
    path = folder / "m.py"
    original = '\ufeff# caf\u00e9\ndef f() -> str:\n    """\u00e9."""\n    ...\n'.encode()
    assert original.startswith(b"\xef\xbb\xbf")
    path.write_bytes(original)
    source = _fill_one(path, "return '\u00fc'")
    assert not source.text.startswith("\ufeff")
    assert path.read_bytes() == original.replace(b"    ...\n",
                                                 "    return '\u00fc'\n".encode())


def test_round_trip_keeps_latin1_declaration(folder: Path) -> None:
    path = folder / "m.py"
    original = (b"# -*- coding: latin-1 -*-\n"
                b"# caf\xe9\n"
                b"def f() -> str:\n"
                b'    """Return \xe9."""\n'
                b"    ...\n")
    path.write_bytes(original)
    source = _fill_one(path, "return '\u00e9'")
    assert source.encoding in ("iso-8859-1", "latin-1")
    assert path.read_bytes() == original.replace(b"    ...\n", b"    return '\xe9'\n")


def test_write_text_unencodable_body_is_a_source_error(folder: Path) -> None:
    path = folder / "m.py"
    original = b"# -*- coding: latin-1 -*-\n# caf\xe9\nx = 1\n"
    path.write_bytes(original)
    source = SourceFile.read(path)
    try:
        with pytest.raises(SourceError):
            source.write_text(source.text + "s = '\u2603'\n")
    finally:
        assert path.read_bytes() == original


def test_read_non_utf8_bytes_is_source_error(folder: Path) -> None:
    path = folder / "bad.py"
    path.write_bytes(b"x = '\xff\xfe'\n")
    with pytest.raises(SourceError, match="bad.py"):
        SourceFile.read(path)


def test_read_unknown_declared_encoding_is_source_error(folder: Path) -> None:
    path = folder / "bad.py"
    path.write_bytes(b"# -*- coding: no-such-codec -*-\nx = 1\n")
    with pytest.raises(SourceError):
        SourceFile.read(path)


def test_read_missing_file_is_source_error(folder: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        SourceFile.read(folder / "absent.py")


def test_write_text_replaces_atomically_and_keeps_mode(folder: Path) -> None:
    path = folder / "m.py"
    path.write_bytes(b"x = 1\n")
    os.chmod(path, 0o751)
    before = path.stat()
    witness = folder / "hardlink.py"
    os.link(path, witness)
    source = SourceFile.read(path)
    source.write_text("x = 2\n")
    after = path.stat()
    assert path.read_bytes() == b"x = 2\n"
    assert stat.S_IMODE(after.st_mode) == 0o751
    # a new inode renamed into place, never the old file truncated and rewritten
    assert after.st_ino != before.st_ino
    assert witness.read_bytes() == b"x = 1\n"
    assert sorted(p.name for p in folder.iterdir()) == ["hardlink.py", "m.py"]


def test_write_text_failure_leaves_file_and_no_temp(folder: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = folder / "m.py"
    path.write_bytes(b"x = 1\n")
    source = SourceFile.read(path)

    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        source.write_text("x = 2\n")
    assert path.read_bytes() == b"x = 1\n"
    assert [p.name for p in folder.iterdir()] == ["m.py"]


def test_write_text_refuses_when_file_changed(folder: Path) -> None:
    path = folder / "m.py"
    path.write_bytes(b"x = 1\n")
    source = SourceFile.read(path)
    path.write_bytes(b"x = 1  # edited meanwhile\n")
    with pytest.raises(FileChangedError, match="changed on disk"):
        source.write_text("x = 2\n")
    assert path.read_bytes() == b"x = 1  # edited meanwhile\n"
    assert [p.name for p in folder.iterdir()] == ["m.py"]
    assert issubclass(FileChangedError, SourceError)


def test_write_text_refuses_when_file_deleted(folder: Path) -> None:
    path = folder / "m.py"
    path.write_bytes(b"x = 1\n")
    source = SourceFile.read(path)
    path.unlink()
    with pytest.raises(SourceError):
        source.write_text("x = 2\n")
    assert not path.exists()


def test_write_text_through_symlink_keeps_the_link(folder: Path) -> None:
    real = folder / "real.py"
    real.write_bytes(b"x = 1\n")
    link = folder / "link.py"
    link.symlink_to("real.py")
    source = SourceFile.read(link)
    try:
        source.write_text("x = 2\n")
    except SourceError:
        pass  # refusing would be fine too
    assert link.is_symlink()
