"""Job folders the sandbox's unprivileged user can reach, whatever TMPDIR is."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from codegen_hook.errors import SandboxUnavailableError
from codegen_hook.isolation import jobdir
from codegen_hook.isolation.base import SandboxJob
from codegen_hook.isolation.bwrap import BwrapSandbox, slots_folder


@pytest.fixture
def closed_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR inside a folder of mode 0700, as on hardened hosts and CI runners."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    inner = private / "tmp"
    inner.mkdir()
    monkeypatch.setenv("TMPDIR", str(inner))
    monkeypatch.setattr(tempfile, "tempdir", None)   # gettempdir() reads TMPDIR again
    return private


def test_the_folder_others_cannot_cross_is_found(closed_tmpdir: Path) -> None:
    # pytest's own tmp folders are 0700 too: the first closed one on the way counts
    assert jobdir.blocking_parent(closed_tmpdir / "tmp") in [closed_tmpdir,
                                                             *closed_tmpdir.parents]
    assert jobdir.blocking_parent(Path("/usr/bin")) is None


def test_job_folders_leave_an_unreachable_tmpdir(closed_tmpdir: Path) -> None:
    folder = jobdir.new_job_folder(cross=True)
    try:
        assert closed_tmpdir not in folder.parents
        assert jobdir.blocking_parent(folder.parent) is None
        assert folder.parent.name == f"codegen-hook-{os.geteuid()}"
        assert oct(folder.parent.stat().st_mode & 0o777) == "0o711"
        assert oct(folder.stat().st_mode & 0o777) == "0o700"   # private until filled
    finally:
        shutil.rmtree(folder)
    # run as ourselves, the job may sit in TMPDIR as before
    own = jobdir.new_job_folder(cross=False)
    assert closed_tmpdir in own.parents
    shutil.rmtree(own)


def test_nowhere_reachable_is_an_error_naming_the_folder_and_the_fix(
        closed_tmpdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobdir, "_FALLBACKS", (str(closed_tmpdir / "tmp"),))
    with pytest.raises(SandboxUnavailableError) as caught:
        jobdir.job_parent(cross=True)
    message = str(caught.value)
    assert f"{jobdir.blocking_parent(closed_tmpdir)} lets no other user cross it" in message
    assert "Set TMPDIR" in message


def test_a_runtime_folder_that_is_not_ours_is_not_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    shared = Path(tempfile.mkdtemp(prefix="codegen-hook-test-", dir="/tmp"))
    os.chmod(shared, 0o755)
    base = shared / "base"
    base.mkdir()
    elsewhere = shared / "elsewhere"
    elsewhere.mkdir()
    (base / f"codegen-hook-{os.geteuid()}").symlink_to(elsewhere)
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    monkeypatch.setattr(jobdir, "_FALLBACKS", ())
    try:
        if jobdir.blocking_parent(base) is not None:
            pytest.skip(f"{jobdir.blocking_parent(base)} is closed to others here")
        with pytest.raises(SandboxUnavailableError, match="cannot be made ours"):
            jobdir.job_parent(cross=True)
    finally:
        shutil.rmtree(shared)


@pytest.mark.sandbox
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runs as another uid only as root")
def test_as_root_a_sandbox_run_works_with_tmpdir_in_a_0700_folder(closed_tmpdir: Path) -> None:
    """Before, bwrap could not reach the job folder and the error blamed user namespaces."""
    result = BwrapSandbox().run(SandboxJob(files={"a.py": "print('reached')"}, entry="a.py"))
    assert (result.verdict, result.stdout.strip()) == ("ok", "reached"), result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="uid slots are used only as root")
def test_uid_slots_are_one_place_whatever_tmpdir(closed_tmpdir: Path) -> None:
    """A slot's reaping kills every process of its uid: runs with different TMPDIRs
    once took their slot locks in different folders, shared a uid, and killed each
    other's sandboxes."""
    assert slots_folder() == Path("/tmp/codegen-hook-uid-slots")
    assert not (closed_tmpdir / "tmp" / "codegen-hook-uid-slots").exists()
