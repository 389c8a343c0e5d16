"""Process settings for a long mining loop (the mining stage, ``benchmarks/mine.py``).

Two costs of the default CPython and glibc settings showed up when profiling ConcretePlant against
spaCy tagging on 7,511 captions (docs/performance.md, "Mining"). Neither is the miners' own work.

- **Cyclic garbage collection.** The miners keep per-word caches, so a cold run allocates objects that
  live on, and that triggers full collections. Each full collection walks every object of the loaded
  resources (spaCy pipeline, norms, WordNet indexes; about a million objects): 0.3 s each, measured.
  ``gc.freeze()`` moves what is alive at the start out of the collector's reach. It is also what the
  Python docs advise before forking workers, so that the collector does not copy their pages.
- **glibc returning memory between batches.** spaCy frees a batch's arrays once the last of its docs
  is gone. glibc then gives the top of the heap back to the OS, and the next batch faults the same
  pages in again: 360,000 page faults and 0.8 s of system time per 7,511 captions, measured. A
  trim threshold of 256 MB keeps that memory in the process while mining.

Leaving unfreezes the collector (unless it was frozen before) and hands the kept memory back
(``malloc_trim``). glibc's own dynamic
thresholds cannot be restored once set, so a moderate fixed trim threshold (64 MB) stays. Other C
libraries and other platforms are left as they are.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import sys
from collections.abc import Iterator
from typing import Any

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MINING_TRIM_THRESHOLD = 256 << 20
MMAP_THRESHOLD = 32 << 20  # glibc's largest; its dynamic rule stops here too
AFTER_TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc's dynamic rule would have reached


@functools.lru_cache(maxsize=1)
def _glibc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - musl and others lack them
    except (OSError, AttributeError):
        return None
    return libc


@contextlib.contextmanager
def tuned_for_mining() -> Iterator[None]:
    """Run the body with the collector frozen and freed heap memory kept (see the module doc).

    Enter it after the miners have loaded their resources, so that those are what gets frozen.
    A freeze that was already in place (the caller's own, or an outer ``tuned_for_mining``) is left
    in place on exit: the collector has one permanent generation, not a stack of them.
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(M_TRIM_THRESHOLD, MINING_TRIM_THRESHOLD)
    frozen_before = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()
        if libc is not None:
            libc.mallopt(M_TRIM_THRESHOLD, AFTER_TRIM_THRESHOLD)
            libc.malloc_trim(0)
