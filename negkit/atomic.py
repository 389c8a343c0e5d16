"""Every file negkit writes is written whole or not at all, and checked when it is read back.

- ``atomic_write(path)``: write a temporary sibling ``.<name>.tmp-<pid>.<host>``, fsync, rename over ``path``.
  A process killed at any moment leaves either the old file or the new one, never half of one; an error (or
  Ctrl-C) removes the temporary file. A full disk is a ``DiskFullError`` naming the file, the free space and
  the space it needed, not a traceback.
- ``sweep_temp(folder)``: remove temporary files and folders (same naming) whose owner process is gone
  (``negkit.locks.owner_alive``); those of live processes, or of other hosts, are left alone.
- ``file_checksum`` / ``check_file``: size and BLAKE2b of a file, recorded when it is written and compared when
  it is used (mining shards, checkpoints).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from negkit.errors import DiskFullError
from negkit.locks import owner_alive, this_host

_TEMP = re.compile(r"^\..+\.tmp-(\d+)(?:\.([^/]*))?$")
_FULL = (errno.ENOSPC, errno.EDQUOT)


def temp_path(path: Path) -> Path:
    """The temporary sibling ``path`` is written to, naming its owner (PID and host) for sweeps."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}.{this_host()}")


def temp_dir(final: Path) -> Path:
    """A new private folder next to ``final`` (its owner in the name, like ``temp_path``)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=f".tmp-{os.getpid()}.{this_host()}",
                                 dir=final.parent))


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def free_space(path: Path) -> int | None:
    for p in (path, *path.parents):
        with contextlib.suppress(OSError):
            return shutil.disk_usage(p).free
    return None


def is_disk_full(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return True
        if "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def disk_full(path: Path, need: int | None = None, *, what: str = "") -> DiskFullError:
    """The one-line error for a full disk while writing ``path`` (``need``: bytes it needed, when known)."""
    free = free_space(Path(path).parent)
    parts = [f"{_size(free)} free" if free is not None else None,
             f"it needs about {_size(need)}" if need else None]
    detail = ", ".join(p for p in parts if p)
    return DiskFullError(f"no space left on device writing {what + ' ' if what else ''}{path}"
                         f"{' (' + detail + ')' if detail else ''}; free some space there (or write elsewhere) "
                         f"and run again")


def _nearly_full(exc: BaseException, path: Path) -> bool:
    """A write that failed without saying why (torch's zip writer reports only positions) on a disk with
    under 1 MB left."""
    if not isinstance(exc, (OSError, RuntimeError)):
        return False
    free = free_space(path.parent)
    return free is not None and free < (1 << 20)


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "w", *, encoding: str | None = "utf-8", need: int | None = None,
                 what: str = "") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on success fsync it and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, Exception) and (is_disk_full(exc) or _nearly_full(exc, path)):
            raise disk_full(path, need, what=what) from None
        raise


def write_text(path: Path, text: str, *, what: str = "") -> None:
    with atomic_write(path, "w", need=len(text.encode("utf-8", "surrogatepass")), what=what) as fh:
        fh.write(text)


def sweep_temp(folder: Path) -> list[Path]:
    """Remove the temporary files and folders in ``folder`` whose owner is gone; returns what was removed."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or owner_alive(int(m.group(1)), m.group(2) or None):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


# -- checksums ----------------------------------------------------------------------------------------------


def file_checksum(path: Path) -> dict[str, Any]:
    """``{"size": bytes, "blake2b": hex}`` of a file."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return {"size": Path(path).stat().st_size, "blake2b": h.hexdigest()}


def check_file(path: Path, expected: Any) -> str | None:
    """None when ``path`` matches the recorded ``expected`` checksum, else what differs (size first: cheap)."""
    if not isinstance(expected, dict) or "size" not in expected or "blake2b" not in expected:
        return "no valid checksum was recorded"
    try:
        size = Path(path).stat().st_size
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if size != expected["size"]:
        return f"its size is {size} bytes, {expected['size']} were written"
    if file_checksum(path)["blake2b"] != expected["blake2b"]:
        return "its content differs from what was written (checksum mismatch)"
    return None
