"""doctor's encryption-key row: before first use, ready, and with the wrong key file."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from codegen_hook.config import Settings
from codegen_hook.doctor import _key_rows
from codegen_hook.security.keys import open_codec


def test_key_row_follows_the_key_ring(tmp_path: Path) -> None:
    home, key_file = tmp_path / "data", tmp_path / "cfg" / "key"
    settings = Settings(key_file=str(key_file))
    [row] = _key_rows(settings, home)
    assert row["status"] == "not yet" and "first use" in row["detail"]
    open_codec(home, key_file=key_file)
    [row] = _key_rows(settings, home)
    assert row["status"] == "ready" and str(key_file) in row["detail"]
    key_file.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    [row] = _key_rows(settings, home)
    assert row["status"] == "WRONG KEY"
