"""Ctrl-C and SIGTERM: a clean stop, never a traceback, and at most one training step lost to preemption.

- SIGINT (Ctrl-C) raises ``KeyboardInterrupt`` as usual, but first records that it came: whatever exception
  then reaches the command line (a ``TimeoutError`` from a worker pool, a ``RuntimeError`` from inside
  ``torch.save``) is reported as the interruption it is, in one line, with exit status 130.
- SIGTERM (a cluster preempting the job) is *deferred* while a training loop runs: the loop sees
  ``stop_requested()`` at the next step boundary, writes a checkpoint and raises ``Interrupted`` (exit 143).
  Outside a training loop it raises ``Interrupted`` at once.
- Processes forked while ``child_processes_follow_parent()`` is active (mining workers and their manager)
  ignore SIGINT, which their parent handles, and are killed by the kernel when their parent dies, even by
  ``kill -9``: no orphan keeps its share of memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from negkit.errors import Interrupted

_state = {"sigint": False, "sigterm": False, "deferring": 0, "follow": 0, "hooked": False}



def _on_sigint(signum: int, frame: Any) -> None:
    _state["sigint"] = True
    raise KeyboardInterrupt


def _on_sigterm(signum: int, frame: Any) -> None:
    _state["sigterm"] = True
    if not _state["deferring"]:
        raise Interrupted("terminated (SIGTERM)", exit_code=128 + signal.SIGTERM)


def was_interrupted() -> bool:
    """Whether Ctrl-C or SIGTERM arrived since ``handle_signals`` was entered."""
    return bool(_state["sigint"] or _state["sigterm"])


def stop_requested() -> bool:
    """Whether SIGTERM asked the training loop to checkpoint and stop."""
    return bool(_state["sigterm"])


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Install the SIGINT/SIGTERM handlers for the body (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.update(sigint=False, sigterm=False)
    old = signal.signal(signal.SIGINT, _on_sigint), signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])


def defer_termination(on: bool) -> None:
    """From ``defer_termination(True)`` to ``defer_termination(False)`` SIGTERM only sets ``stop_requested()``:
    the training loop stops at its next step boundary, after writing a checkpoint."""
    _state["deferring"] = max(0, _state["deferring"] + (1 if on else -1))


def raise_if_stop_requested(what: str) -> None:
    """Honour a SIGTERM that arrived while it was deferred (``what`` says what was kept)."""
    if _state["sigterm"]:
        raise Interrupted(f"terminated (SIGTERM): {what}", exit_code=128 + signal.SIGTERM)


# -- child processes --------------------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1


def _after_fork_in_child() -> None:
    if not _state["follow"]:
        return
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler is not theirs: the pool stops them
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


@contextlib.contextmanager
def child_processes_follow_parent() -> Iterator[None]:
    """Processes forked in the body ignore Ctrl-C and die with this process (see the module doc)."""
    if not _state["hooked"]:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _state["hooked"] = True
    _state["follow"] += 1
    try:
        yield
    finally:
        _state["follow"] -= 1
