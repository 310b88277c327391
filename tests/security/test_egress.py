"""The egress guard, tried where nothing could leave anyway: in a network namespace
of its own (`unshare -n`), so a failing guard still sends no packet anywhere."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux")

PROBE = """
import json, socket, sys, tempfile, os
from codegen_hook.errors import EgressRefusedError
if sys.argv[1] == "guard":
    from codegen_hook.security.egress import install_egress_guard
    install_egress_guard()
out = {}
def attempt(name, call):
    try:
        call()
        out[name] = "ok"
    except EgressRefusedError as exc:
        out[name] = "refused: " + str(exc)
    except OSError as exc:
        out[name] = "oserror %s" % exc.errno
attempt("tcp", lambda: socket.create_connection(("192.0.2.1", 80), 1))
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
    b"x", ("192.0.2.1", 53)))
attempt("dns", lambda: socket.getaddrinfo("example.com", 443))
attempt("loopback", lambda: socket.create_connection(("127.0.0.1", 9), 1))
path = os.path.join(tempfile.mkdtemp(), "s")
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen()
attempt("unix", lambda: socket.socket(socket.AF_UNIX).connect(path))
print(json.dumps(out))
"""


def probe(mode: str) -> dict[str, str]:
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", PROBE, mode], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and "unshare failed" in proc.stderr:
        pytest.skip(f"cannot make a network namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    data: dict[str, str] = json.loads(proc.stdout)
    return data


def test_guard_refuses_everything_but_loopback_and_unix_sockets() -> None:
    seen = probe("guard")
    for name in ("tcp", "udp", "dns"):
        assert seen[name].startswith("refused: "), seen
    assert "--allow-remote-host 192.0.2.1" in seen["tcp"]
    assert seen["loopback"].startswith("oserror"), seen  # allowed: the OS answers (lo is down)
    assert seen["unix"] == "ok"


def test_without_the_guard_the_same_calls_reach_the_os() -> None:
    """Negative control: the refusals above come from the guard, not the namespace."""
    seen = probe("none")
    assert not any(v.startswith("refused") for v in seen.values()), seen
    assert seen["tcp"].startswith("oserror")


@pytest.mark.real_model
def test_fill_works_with_no_network_at_all(tmp_path: Path, real_model_path: Path) -> None:
    """The whole fill flow in a namespace with no network: nothing it needs is remote."""
    path = tmp_path / "strings.py"
    path.write_text((ROOT / "examples" / "strings.py").read_text())
    command = str(Path(sys.executable).parent / "codegen-hook")
    proc = subprocess.run(["unshare", "-n", command, "fill", "--json", "--model",
                           str(real_model_path), str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    [stub] = json.loads(proc.stdout)["stubs"]
    assert stub["verdict"] == "verified", (stub["reasons"], proc.stderr[-500:])
    assert "return" in path.read_text()


IMPORTS = """
import importlib, json, pkgutil, sys
events = []
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto", "socket.gethostbyname",
                 "urllib.Request", "http.client.connect"):
        events.append([event, repr(args)[:200]])
sys.addaudithook(hook)
import codegen_hook
names = [m.name for m in pkgutil.walk_packages(codegen_hook.__path__, "codegen_hook.")
         if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
for heavy in ("bm25s", "pygit2", "llama_cpp", "docker", "cryptography.hazmat.primitives"):
    importlib.import_module(heavy)
seen = list(events)
import socket
socket.getaddrinfo("localhost", 80)  # negative control: the hook does see a lookup
print(json.dumps({"modules": len(names), "events": seen, "control": len(events) - len(seen)}))
"""


def test_nothing_reaches_out_on_import() -> None:
    """Importing every module of the package and its heavy dependencies opens no
    connection and resolves no name: no telemetry, no update check."""
    proc = subprocess.run([sys.executable, "-c", IMPORTS], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["modules"] > 40
    assert data["events"] == []
    assert data["control"] >= 1
