"""The error types reelfix raises.

Every message says what went wrong, names the file or key involved, and says what to do.
The CLI maps `UserError` (bad input, bad job, bad model) to exit code 2 and
`ProcessingError` (frames failed while processing) to exit code 1.
"""

from __future__ import annotations


class ReelfixError(Exception):
    """Root of every error reelfix raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n  -> {hint}")


class UserError(ReelfixError):
    """Something the user can fix: a bad path, job key, parameter or model file."""


class JobError(UserError):
    """A job file (or the CLI arguments that make one) is invalid."""


class FrameReadError(UserError):
    """A frame cannot be read (missing, truncated, corrupt, unsupported)."""

    def __init__(self, path: str, reason: str, *, hint: str | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read {path}: {reason}", hint=hint)


class FrameWriteError(UserError):
    """A frame cannot be written (unwritable folder, disk full, bad format options)."""

    def __init__(self, path: str, reason: str, *, hint: str | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot write {path}: {reason}", hint=hint)


class ColourError(UserError):
    """An unknown colour space or a failed colour transform."""


class ModelError(UserError):
    """A model file or card is missing, corrupt, or disagrees with its card."""


class DeviceError(UserError):
    """A requested execution device is not available."""


class ProcessingError(ReelfixError):
    """One or more frames failed during processing (the rest were written)."""

    exit_code = 1
