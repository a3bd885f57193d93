"""Where a report goes: standard output, or a file that appears only when complete."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO


class ReportFile:
    """The report's destination: standard output, or a file that appears only when complete.

    With a path, text goes to ``PATH.partial`` and is renamed to ``PATH`` (atomically, on
    the same file system) by :meth:`commit`; nothing ever stands half-written at ``PATH``.
    :meth:`discard` removes the partial file after a failure; a run that is killed keeps
    it, with everything written so far (for ``jsonl``: every finished check), and so does
    :meth:`keep`, after a Ctrl-C.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.partial = None if path is None else path + ".partial"
        self._file: TextIO | None = None

    def check_writable(self) -> None:
        """Raise :class:`OSError` now if the report could not be written at the end."""
        if self.path is None:
            return
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"no directory {directory}")
        if os.path.isdir(self.path):
            raise IsADirectoryError(f"{self.path} is a directory")
        if not os.access(directory, os.W_OK):
            raise PermissionError(f"cannot write in {directory}")

    def write(self, text: str) -> None:
        """Write and flush: what is written survives the process being killed."""
        if self.partial is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        if self._file is None:
            self._file = open(self.partial, "w", encoding="utf-8")  # noqa: SIM115
        self._file.write(text)
        self._file.flush()

    def commit(self) -> None:
        """Put the complete report at its path."""
        if self.partial is None or self.path is None:
            return
        if self._file is None:
            self.write("")
        assert self._file is not None
        self._file.close()
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        """Remove the partial file of a failed run (a later :meth:`write` starts a new one)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.partial is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.partial)

    def keep(self) -> str | None:
        """Close the partial file and leave it at ``PATH.partial``, for a run that stops
        before its report is complete (Ctrl-C); that path, or ``None`` where nothing was
        written to a file."""
        if self._file is None:
            return None
        self._file.close()
        self._file = None
        return self.partial
