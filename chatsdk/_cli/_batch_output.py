"""The results file of ``chatsdk batch``: read back, repaired, appended one whole line at a time.

How it stays exactly once across crashes:

- Each result is one ``os.write`` of a whole line (``O_APPEND``), made as soon as its request
  finishes. A process killed at any moment leaves every earlier line complete and at most one
  torn last line, which the next run cuts off (it has no newline) before it reads the file.
- On start the file is read: every custom_id in it is done and is not sent again.
- ``--retry-failed`` writes the answered lines to a temporary file, syncs it and renames it over
  the results (an atomic step), so a failed line is never in the file twice with its retry.
- One writer: the file is locked (``flock``, where the system has it) while a run writes to it,
  so a second ``chatsdk batch`` on the same output stops at once instead of sending again.
- Durability: the kernel holds each written line, so a killed process loses nothing. For a
  power cut or an OS crash, the file is synced (``fsync``) every ``fsync_every`` seconds and at
  the end (``0``: after every line); lines written since the last sync may be lost, and the next
  run sends those requests again.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._common import EXIT_USAGE, CLIError, one_line

if TYPE_CHECKING:
    from chatsdk import BatchResult

__all__ = ["Existing", "ResultsFile", "read_existing"]


@dataclass
class Existing:
    """What an earlier run left in the results file."""

    answered: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    torn_bytes: int = 0  # the length of the torn last line that was cut off
    replaced: bool = False  # the file was rewritten (a new file now has its name)


def read_existing(path: str, known: set[str], *, retry_failed: bool) -> Existing:
    """Repair the file's torn last line, read its results, and with ``retry_failed`` drop its
    failed lines; ``CLIError`` if it holds a line that is no result of this input."""
    import chatsdk

    existing = Existing()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return existing
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        existing.torn_bytes = len(data) - keep
        os.truncate(path, keep)
        data = data[:keep]
    kept_lines: list[bytes] = []
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            result = chatsdk.BatchResult.from_dict(json.loads(line))
        except ValueError as exc:
            raise CLIError(
                f"{where} is not a batch result ({one_line(str(exc), 200)}); "
                "is -o the results file of this input?",
                EXIT_USAGE,
            ) from None
        cid = result.custom_id
        if cid not in known:
            raise CLIError(
                f"{where}: custom_id {one_line(cid, 80)!r} is not in the input; "
                "is -o the results file of this input?",
                EXIT_USAGE,
            )
        if cid in existing.answered or cid in existing.failed:
            raise CLIError(f"{where}: custom_id {one_line(cid, 80)!r} is there twice", EXIT_USAGE)
        (existing.answered if result.ok else existing.failed).add(cid)
        if result.ok:
            kept_lines.append(line)
    if retry_failed and existing.failed:
        _replace(path, b"".join(kept_lines))
        existing.failed = set()
        existing.replaced = True
    return existing


def _open_locked(path: str) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o644)
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one run at a time is then the user's to keep
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise CLIError(
            f"another chatsdk batch is writing to {path}; wait for it to end (or stop it)",
            EXIT_USAGE,
        ) from None
    return fd


def _replace(path: str, data: bytes) -> None:
    """Put ``data`` in ``path`` in one atomic step: a synced temporary file renamed over it."""
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    _sync_directory(path)


def _sync_directory(path: str) -> None:
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return  # not every system opens directories (Windows)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ResultsFile:
    """The results file opened for appending and locked: :meth:`add` writes one whole line.

    Open it before reading the file back (``read_existing``), so that no other run writes to it
    in between; ``CLIError`` if another run holds it.
    """

    def __init__(self, path: str, fsync_every: float) -> None:
        self.path = path
        self.fsync_every = fsync_every
        self._fd = _open_locked(path)
        self._synced_at = time.monotonic()
        self._unsynced = False

    def reopen(self) -> None:
        """Open (and lock) the file that now has the name, after ``read_existing`` replaced it,
        then let go of the old one."""
        old, self._fd = self._fd, _open_locked(self.path)
        os.close(old)

    def add(self, result: BatchResult) -> None:
        """Append ``result`` as one line, in one write; sync as the policy says."""
        line = (json.dumps(result.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:  # a regular file takes it whole; a short write (disk full) goes on
            view = view[os.write(self._fd, view) :]
        self._unsynced = True
        now = time.monotonic()
        if now - self._synced_at >= self.fsync_every:
            self.sync()

    def sync(self) -> None:
        """Make what was written survive a power cut."""
        if self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False
        self._synced_at = time.monotonic()

    def close(self) -> None:
        """Sync and close."""
        try:
            self.sync()
        finally:
            os.close(self._fd)
