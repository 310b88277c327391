"""Docker: one container per job from the locally built sandbox image.

No network, read-only root, size-limited tmpfs for /work and /tmp as the only
writable places, a non-root user, every capability dropped, no-new-privileges,
memory (and swap), CPU and pids limits, rlimits, a wall deadline that kills and
removes the container, and output capped while it streams.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from codegen_hook.errors import SandboxUnavailableError
from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob
from codegen_hook.isolation.jobdir import new_job_folder
from codegen_hook.isolation.process import finish_run, release_job_files, write_job_files
from codegen_hook.isolation.seccomp import docker_seccomp_profile

__all__ = ["DEFAULT_IMAGE", "DockerSandbox", "build_image", "docker_client"]

DEFAULT_IMAGE = "codegen-hook-sandbox:1"
# Not the image's user 1000: without user-namespace remapping a container uid is the
# same uid on the host, and the job folder (the user's code) must not be readable by
# whichever host account happens to be 1000. This uid belongs to no account.
_CONTAINER_UID = 60999


def docker_client() -> Any:
    """A client for the local engine, or SandboxUnavailableError saying why not."""
    try:
        import docker
        client = docker.from_env(timeout=60)
        client.ping()
        return client
    except ImportError as exc:
        raise SandboxUnavailableError("the docker SDK is not installed; pip install "
                                      "docker") from exc
    except Exception as exc:  # the SDK raises requests' and its own errors alike
        raise SandboxUnavailableError(f"the Docker engine does not answer ({exc}); start "
                                      "it, or use sandbox: bwrap") from exc


class _Stream:
    """Reads the container's output in a thread, up to a byte limit."""

    def __init__(self, container: Any, limit: int, api: Any) -> None:
        self._api = api  # a client of its own: a long-lived stream must not share one
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.total = 0
        self.flooded = False
        self.complete = False   # the attach stream ran to its end
        self.settled = False
        self._limit = limit
        self._container = container
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            stream = self._api.attach(self._container.id, stdout=True, stderr=True,
                                      stream=True, logs=True, demux=True)
            for out, err in stream:
                if self.settled:
                    return   # settle() took the output from the logs instead
                for chunk, into in ((out, self.out), (err, self.err)):
                    if chunk:
                        into.append(chunk)
                        self.total += len(chunk)
                if self.total > self._limit:
                    self.flooded = True
                    stream.close()  # stop reading first: the engine stalls a blocked attach
                    self._api.kill(self._container.id)
                    return
            self.complete = True
        except Exception:  # the container went away under us: what we have is the output
            return

    def join(self) -> None:
        self._thread.join(timeout=5)

    def settle(self, api: Any) -> None:
        """After the container stopped: if the attach failed or has not finished (an
        attach that raced the exit, a loaded machine), take the output from the logs."""
        if self.complete or self.flooded:
            return
        self.settled = True
        out = api.logs(self._container.id, stdout=True, stderr=False) or b""
        err = api.logs(self._container.id, stdout=False, stderr=True) or b""
        if len(out) + len(err) >= self.total:
            self.out, self.err = [out[:self._limit]], [err[:self._limit]]
            self.total = len(out) + len(err)
            self.flooded = self.total > self._limit


class DockerSandbox(Sandbox):
    name: ClassVar[str] = "docker"

    def __init__(self, image: str = DEFAULT_IMAGE, client: Any = None) -> None:
        self.client = client or docker_client()
        self.image = image
        self._version: tuple[int, int] | None = None
        import docker
        import docker.errors
        # Long-lived calls (the output stream, the blocking wait) get clients of their own.
        self._stream_api = docker.from_env(timeout=None).api
        self._wait_api = docker.from_env(timeout=None).api
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound as exc:
            raise SandboxUnavailableError(
                f"the sandbox image {image} is missing; build it with: codegen-hook sandbox "
                "build (add --offline on a machine without a registry)") from exc

    def _create(self, job: SandboxJob, job_dir: str) -> Any:
        from docker.types import LogConfig, Ulimit
        scratch = max(job.memory_mb // 4, 16)
        return self.client.containers.create(
            self.image, command=["python3", "-I", "-B", f"/job/{job.entry}", *job.args],
            user=f"{_CONTAINER_UID}:{_CONTAINER_UID}", network_mode="none", read_only=True,
            tmpfs={folder: f"size={scratch}m,uid={_CONTAINER_UID},gid={_CONTAINER_UID}"
                   for folder in ("/work", "/tmp")},
            volumes={job_dir: {"bind": "/job", "mode": "ro"},
                     **{host: {"bind": inside, "mode": "ro"} for host, inside in job.binds}},
            working_dir="/work",
            environment={"HOME": "/work", "LANG": "C.UTF-8"}, cap_drop=["ALL"],
            security_opt=["no-new-privileges", f"seccomp={docker_seccomp_profile()}"],
            mem_limit=f"{job.memory_mb}m", memswap_limit=f"{job.memory_mb}m",
            nano_cpus=1_000_000_000, pids_limit=64,
            ulimits=[Ulimit(name="cpu", soft=int(job.timeout) + 1, hard=int(job.timeout) + 1),
                     Ulimit(name="fsize", soft=64 << 20, hard=64 << 20),
                     Ulimit(name="nofile", soft=256, hard=256), Ulimit(name="core", soft=0,
                                                                       hard=0)],
            log_config=LogConfig(type="json-file", config={"max-size": "1m", "max-file": "1"}),
            detach=True)

    def python_version(self) -> tuple[int, int] | None:
        """Asked of the image's Python once, in a container of its own (~0.5 s)."""
        if self._version is None:
            probe = SandboxJob(files={"v.py": "import sys; print('%d %d' % sys.version_info[:2])"},
                               entry="v.py", timeout=30.0)
            said = self.run(probe).stdout.split()
            self._version = (int(said[0]), int(said[1])) if len(said) == 2 and all(
                x.isdigit() for x in said) else (0, 0)
        return self._version if self._version != (0, 0) else None

    def run(self, job: SandboxJob) -> RunResult:
        job_dir = str(new_job_folder(cross=os.geteuid() == 0))
        container = None
        start = time.perf_counter()
        try:
            write_job_files(job, Path(job_dir), _CONTAINER_UID if os.geteuid() == 0 else None)
            if os.geteuid() != 0:  # the container's uid must still read the job
                for path in [Path(job_dir), *Path(job_dir).rglob("*")]:
                    os.chmod(path, 0o555 if path.is_dir() else 0o444)
            container = self._create(job, job_dir)
            container.start()
            stream = _Stream(container, job.output_limit, self._stream_api)
            timed_out = not _wait_for_exit(self._wait_api, container.id,
                                           start + job.timeout - time.perf_counter())
            if timed_out:
                self.client.api.kill(container.id)
                _wait_for_exit(self._wait_api, container.id, 10.0)
            stream.join()
            stream.settle(self.client.api)
            state = self.client.api.inspect_container(container.id)["State"]
            code = None if timed_out else state.get("ExitCode")
            return finish_run(job, stream.out, stream.err, code, timed_out, stream.flooded,
                              time.perf_counter() - start, self.name,
                              oom=bool(state.get("OOMKilled")))
        finally:
            if container is not None:
                container.remove(force=True)
            release_job_files(Path(job_dir))


def _wait_for_exit(api: Any, container_id: str, seconds: float) -> bool:
    """Block on the engine's wait endpoint in a thread; True if the container stopped
    within `seconds`. (The SDK's own wait(timeout) breaks its connection on timeout.)"""
    done = threading.Event()

    def wait() -> None:
        try:
            api.wait(container_id)
        except Exception:  # the engine dropped the call: treat the container as stopped
            pass
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    return done.wait(max(0.0, seconds))


def build_image(offline: bool, image: str = DEFAULT_IMAGE) -> str:
    """Build the sandbox image from the files shipped in `image/`; returns its tag."""
    folder = resources.files("codegen_hook.isolation") / "image"
    with resources.as_file(folder) as path:
        if offline:
            proc = subprocess.run(["bash", str(path / "build-offline.sh"), image],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise SandboxUnavailableError(
                    f"offline image build failed: {proc.stderr.strip()[-800:]}; it needs "
                    "root, debootstrap and Debian's package mirror")
            return image
        client = docker_client()
        try:
            client.images.build(path=str(path), dockerfile="Dockerfile", tag=image, rm=True)
        except Exception as exc:
            raise SandboxUnavailableError(
                f"image build failed ({exc}); without a registry, use: codegen-hook sandbox "
                "build --offline") from exc
    return image
