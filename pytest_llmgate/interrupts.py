"""Ctrl-C in a gated session: the first stops it, any further one is noted, not raised.

After the first Ctrl-C the session cancels its judge calls and ends with one line saying so;
a second Ctrl-C in that moment would otherwise raise KeyboardInterrupt out of a pytest hook
and print pytest's traceback over that line. The first Ctrl-C swaps the handler before it
raises, so no second one can slip in between.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

NOTE = "\nLLM gate: already stopping (cancelling judge calls, writing nothing); please wait.\n"


def _note(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write(NOTE)
    sys.stderr.flush()


def _first(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, _note)
    raise KeyboardInterrupt


def guard_interrupts() -> Callable[[], None]:
    """Install the handler for the session; returns the function that restores the previous one.

    Only the main thread sets signal handlers, and a handler someone else installed (not
    Python's default) is left alone: then this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: Any = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        return lambda: None
    signal.signal(signal.SIGINT, _first)

    def restore() -> None:
        # After a Ctrl-C the process is ending: keep noting further ones until it exits.
        if signal.getsignal(signal.SIGINT) is _first:
            signal.signal(signal.SIGINT, previous)

    return restore
