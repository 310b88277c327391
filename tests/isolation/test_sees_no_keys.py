"""Neither sandbox can see the data dir or the key file: generated code that goes
looking for them finds nothing."""

from __future__ import annotations

import json
from pathlib import Path

from codegen_hook.isolation.base import Sandbox, SandboxJob
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.isolation.docker import DockerSandbox
from codegen_hook.security.keys import open_codec

LOOK = """
import json, os, sys
out = {}
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            out[path] = "listed: " + ",".join(os.listdir(path))
        else:
            with open(path, "rb") as handle:
                out[path] = "read %d bytes" % len(handle.read())
    except OSError as exc:
        out[path] = "refused: " + type(exc).__name__
print(json.dumps(out))
"""


def look(sandbox: Sandbox, paths: list[str]) -> dict[str, str]:
    args = ", ".join(repr(p) for p in paths)
    code = f"import sys\nsys.argv[1:] = [{args}]\n" + LOOK
    result = sandbox.run(SandboxJob(files={"look.py": code}, entry="look.py", timeout=10))
    assert result.ok, result.stderr
    found: dict[str, str] = json.loads(result.stdout)
    return found


def secrets_at(tmp_path: Path) -> list[str]:
    data = tmp_path / "data"
    key_file = tmp_path / "xdg_config_home" / "codegen-hook" / "key"
    open_codec(data, key_file=key_file)
    assert key_file.is_file() and (data / "keys" / "ring").is_file()
    return [str(key_file), str(data), str(data / "keys" / "ring"), str(Path.home())]


def test_bwrap_sees_no_key_and_no_data_dir(tmp_path: Path) -> None:
    found = look(BwrapSandbox(), secrets_at(tmp_path))
    assert all(v.startswith("refused") for v in found.values()), found


def test_docker_sees_no_key_and_no_data_dir(tmp_path: Path,
                                            docker_sandbox: DockerSandbox) -> None:
    found = look(docker_sandbox, secrets_at(tmp_path))
    assert all(v.startswith("refused") for v in found.values()), found
