"""A seccomp deny-list for the bwrap sandbox, built with pyseccomp (ctypes over the
system's libseccomp) and handed to bwrap as `--seccomp FD`.

Denied with EPERM: tracing and cross-process memory access, io_uring, the kernel
keyring, bpf, perf events, mounting and namespace changes (unshare, setns, clone
with a namespace flag; clone3 gets ENOSYS so libc falls back to clone), module and
kexec loading, reboot, swap, syslog, userfaultfd, handle-based opens, sockets other
than AF_UNIX, and the terminal injection ioctls TIOCSTI and TIOCLINUX. Everything a
Python test run needs stays allowed. Syscalls of a foreign architecture (x32, i386)
kill the process (libseccomp's default for an unknown architecture).
"""

from __future__ import annotations

import errno
import functools
import json
import tempfile

__all__ = ["DENIED_SYSCALLS", "docker_seccomp_profile", "seccomp_filter_bpf"]

DENIED_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsmount", "fsconfig", "fspick", "mount_setattr", "unshare", "setns",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "userfaultfd",
    "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "vhangup",
    # the rest of what Docker's own default profile refuses
    "clock_adjtime", "clock_settime", "settimeofday", "ioperm", "iopl", "mbind",
    "move_pages", "get_mempolicy", "set_mempolicy", "uselib", "ustat", "sysfs",
)
_NAMESPACE_FLAGS = (0x10000000, 0x00020000, 0x20000000, 0x40000000, 0x04000000,
                    0x08000000, 0x02000000)  # NEWUSER NEWNS NEWPID NEWNET NEWUTS NEWIPC NEWCGROUP
_TERMINAL_IOCTLS = (0x5412, 0x541C)  # TIOCSTI, TIOCLINUX
_AF_UNIX = 1


@functools.lru_cache(maxsize=1)
def seccomp_filter_bpf() -> bytes | None:
    """The compiled filter, or None when libseccomp is not available here."""
    try:
        import pyseccomp as seccomp
        deny = seccomp.ERRNO(errno.EPERM)
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        for name in DENIED_SYSCALLS:
            rules.add_rule(deny, name)
        for flag in _NAMESPACE_FLAGS:
            rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        for request in _TERMINAL_IOCTLS:
            rules.add_rule(deny, "ioctl",
                           seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request))
        rules.add_rule(deny, "socket", seccomp.Arg(0, seccomp.NE, _AF_UNIX))
        with tempfile.TemporaryFile() as out:
            rules.export_bpf(out)
            out.seek(0)
            return out.read()
    except (ImportError, OSError, RuntimeError, ValueError):
        return None


@functools.lru_cache(maxsize=1)
def docker_seccomp_profile() -> str:
    """The same deny-list as a Docker seccomp profile (JSON), replacing the engine's
    default: older engines' defaults still allow io_uring and ptrace."""
    deny = {"action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM}
    rules: list[dict[str, object]] = [
        {"names": list(DENIED_SYSCALLS), **deny},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
        {"names": ["socket"], **deny,
         "args": [{"index": 0, "value": _AF_UNIX, "op": "SCMP_CMP_NE"}]},
    ]
    rules += [{"names": ["clone"], **deny, "args": [
        {"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}]}
        for flag in _NAMESPACE_FLAGS]
    rules += [{"names": ["ioctl"], **deny, "args": [
        {"index": 1, "value": 0xFFFFFFFF, "valueTwo": request, "op": "SCMP_CMP_MASKED_EQ"}]}
        for request in _TERMINAL_IOCTLS]
    return json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                       "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
                       "syscalls": rules})
