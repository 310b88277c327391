"""Where a sandbox run's job files are laid out: a folder the sandbox's user can reach.

As root the sandbox runs as an unprivileged uid, which must cross every folder above
the job folder. A TMPDIR inside a 0700 folder (CI runners, hardened hosts: /root/tmp)
cannot be crossed, so job folders go under a runtime folder of ours, `codegen-hook-<uid>`
(0711: others may cross it, not list it), in the first of TMPDIR, /tmp, /var/tmp and
/dev/shm whose parents all let others cross; each job is a random child of it. When
none can be reached, the error names the folder in the way and the fix.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from codegen_hook.errors import SandboxUnavailableError

__all__ = ["blocking_parent", "job_parent", "new_job_folder"]

_FALLBACKS = ("/tmp", "/var/tmp", "/dev/shm")


def blocking_parent(folder: Path) -> Path | None:
    """The first folder on the way to `folder` (itself included) that others may not
    cross, or None when every one lets them."""
    folder = Path(os.path.realpath(folder))
    for part in [*reversed(folder.parents), folder]:
        try:
            mode = part.stat().st_mode
        except OSError:
            return part
        if not mode & stat.S_IXOTH:
            return part
    return None


def _runtime_folder(base: Path) -> Path | None:
    """`base`/codegen-hook-<euid>, made 0711 and ours; None if it cannot be."""
    folder = base / f"codegen-hook-{os.geteuid()}"
    try:
        folder.mkdir(mode=0o711, exist_ok=True)
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return None   # someone else's, or a link: never lay jobs out there
        os.chmod(folder, 0o711)
    except OSError:
        return None
    return folder


def job_parent(cross: bool) -> Path:
    """The folder job folders go in. With `cross` (a sandbox uid other than ours must
    reach them), the first candidate whose parents all let others cross."""
    if not cross:
        return Path(tempfile.gettempdir())
    tried: list[str] = []
    for base in (tempfile.gettempdir(), *_FALLBACKS):
        blocked = blocking_parent(Path(base))
        if blocked is not None:
            tried.append(f"{base} ({blocked} lets no other user cross it)")
            continue
        folder = _runtime_folder(Path(base))
        if folder is not None:
            return folder
        tried.append(f"{base} (its codegen-hook-{os.geteuid()} folder cannot be made ours)")
    raise SandboxUnavailableError(
        "no folder the sandbox's unprivileged user can reach for the job files: tried "
        + "; ".join(tried) + ". Set TMPDIR to a folder whose parents all allow others to "
        "cross them (mode o+x, e.g. chmod 711 on each), such as /tmp")


def new_job_folder(cross: bool) -> Path:
    """A fresh, private job folder (0700 until the job's files are written)."""
    return Path(tempfile.mkdtemp(prefix="codegen-hook-job-", dir=job_parent(cross)))
