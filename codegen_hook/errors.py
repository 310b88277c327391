"""The one error tree. Every message says what to do next.

The CLI catches `CodegenHookError`, prints its message and exits with `exit_code`.
A sandbox run that fails is data (a `RunResult`), never one of these.
"""

from __future__ import annotations

__all__ = [
    "AuditError",
    "BackendError",
    "BackendUnavailableError",
    "CodegenHookError",
    "ConfigError",
    "CryptoError",
    "DatasetError",
    "DecryptionError",
    "KeyUnavailableError",
    "EgressRefusedError",
    "EvalError",
    "FileChangedError",
    "FinetuneError",
    "ForgeError",
    "GitError",
    "IndexStoreError",
    "ModelError",
    "ModelNotFoundError",
    "SandboxUnavailableError",
    "SourceError",
]


class CodegenHookError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 2


class ConfigError(CodegenHookError):
    """A setting is unknown or has a value of the wrong kind."""


class SourceError(CodegenHookError):
    """A user's file cannot be read or parsed; it is left untouched."""


class FileChangedError(SourceError):
    """The file changed on disk while the hook was working on it."""


class IndexStoreError(CodegenHookError):
    """The repository index's store cannot be read or written."""


class ModelError(CodegenHookError):
    """The model file is damaged or cannot be loaded."""


class ModelNotFoundError(ModelError):
    """No model file, and no chunk packages to assemble one from."""


class BackendError(CodegenHookError):
    """The model backend answered, but not usefully."""


class BackendUnavailableError(BackendError):
    """The model backend cannot be reached."""


class EgressRefusedError(CodegenHookError):
    """A connection to a host that is not allowed was refused."""


class CryptoError(CodegenHookError):
    """Something stored cannot be encrypted or decrypted."""


class DecryptionError(CryptoError):
    """A stored file does not open with the key: wrong key, or the file was altered."""


class KeyUnavailableError(CryptoError):
    """No key, or the key material cannot be read or unwrapped."""


class SandboxUnavailableError(CodegenHookError):
    """No sandbox layer works on this machine."""


class AuditError(CodegenHookError):
    """The audit log cannot be read or extended: it does not match its head record."""


class GitError(CodegenHookError):
    """A repository state the CI bot cannot work from (missing base commit, ...)."""


class ForgeError(CodegenHookError):
    """The GitHub / GitLab API refused or failed (after retries)."""


class EvalError(CodegenHookError):
    """A repository evaluation cannot go on (its tests fail as they are, a leak, ...)."""


class DatasetError(CodegenHookError):
    """No training pairs can be built, or the stored dataset is missing or incomplete."""


class FinetuneError(CodegenHookError):
    """Fine-tuning cannot start or go on: the extra is missing, no usable pairs, a base
    model or adapter it cannot handle."""
