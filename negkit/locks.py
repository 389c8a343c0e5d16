"""Who owns what negkit is writing, and whether that owner still lives.

An *owner record* is the PID, the host and the process's start time (so that a recycled PID is not taken for
the original owner). ``owner_alive`` answers for a record; it is the one rule behind every sweep of leftovers
(temporary files, temporary mining shards) and behind the run-directory lock. A process on another host cannot
be checked from here, so it always counts as alive: nothing of a live run elsewhere is ever removed.

``DirectoryLock`` holds a run directory exclusively for a run's whole life. It is a POSIX record lock
(``lockf``) on ``<dir>/.negkit.lock``: the kernel releases it when its process dies, however it dies, and,
unlike ``flock``, forked children (data-loader and mining workers) do not inherit it, so an orphaned worker
never keeps a dead run's directory locked. The file holds the owner record, for the message a second run sees.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from negkit.errors import RunLockedError

LOCK_FILE = ".negkit.lock"


def this_host() -> str:
    return socket.gethostname()


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None where unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), a fingerprint against PID reuse."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def owner_record() -> dict[str, Any]:
    """This process as an owner: PID, host, start time and the wall-clock time the record was made."""
    pid = os.getpid()
    return {"pid": pid, "host": this_host(), "start": process_start(pid), "since": round(time.time(), 3)}


def owner_alive(pid: int, host: str | None = None, start: str | None = None) -> bool:
    """Whether the owner ``pid`` (on ``host``, started at ``start``) may still be running.

    False only when it provably is not: this host, and no such process, a zombie, or a different process
    that now has its PID. Another host's owner always counts as alive.
    """
    if host and host != this_host():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        pass
    fields = _proc_stat(pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):  # exited, not yet reaped
            return False
        if start is not None and len(fields) > 19 and fields[19] != str(start):
            return False
    return True


def record_alive(record: Any) -> bool:
    """``owner_alive`` for an owner record read back from a file (an unreadable record counts as alive)."""
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        return True
    return owner_alive(record["pid"], record.get("host"), record.get("start"))


def describe(record: Any) -> str:
    if not isinstance(record, dict):
        return "another process"
    since = record.get("since")
    when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else ""
    return f"process {record.get('pid')} on host {record.get('host')}{when}"


class DirectoryLock:
    """An exclusive, process-lifetime lock on ``folder`` (see the module doc). Use as a context manager."""

    def __init__(self, folder: Path, *, what: str = "run directory", hint: str = "") -> None:
        self.folder, self.what, self.hint = Path(folder), what, hint
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> DirectoryLock:
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                raise self._held(self._read()) from None
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            # a file system without record locks: fall back on the owner record alone
            holder = self._read()
            if holder is not None and record_alive(holder):
                raise self._held(holder) from None
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(owner_record()) + "\n").encode(), 0)
        self._fd = fd
        return self

    def _read(self) -> Any:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _held(self, holder: Any) -> RunLockedError:
        hint = f"; {self.hint}" if self.hint else ""
        return RunLockedError(f"{self.what} {self.folder} is in use by {describe(holder)} (lock {self.path}): "
                              f"wait for it to finish or stop it{hint}")

    def release(self) -> None:
        if self._fd is None:
            return
        try:  # left in place (never unlinked: another process may be waiting on this very file)
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        os.close(self._fd)  # closing drops the lock
        self._fd = None

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
