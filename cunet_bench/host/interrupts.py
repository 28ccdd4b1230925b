"""Stopping a run cleanly: Ctrl-C and SIGTERM (what CI timeouts and schedulers send) both raise
:class:`Interrupted`, so the same clean-up runs (what was measured is recorded), and work that
must not stop half-way (an optimizer step) can defer them to a safe point."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop signal. A BaseException, like KeyboardInterrupt, so no ``except Exception`` swallows
    it — but not a KeyboardInterrupt, which the command-line framework would silently turn into
    an exit code before the harness could say what it kept."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM)."""
        return 128 + self.signum


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


def handle_stop_signals() -> None:
    """Turn Ctrl-C and SIGTERM into :class:`Interrupted` in the main thread."""
    if threading.current_thread() is threading.main_thread():
        for number in STOP_SIGNALS:
            signal.signal(number, _raise_interrupted)


class DeferredInterrupt:
    """Holds a stop signal that arrived while deferred; :meth:`check` raises it."""

    def __init__(self) -> None:
        self.pending: Interrupted | None = None

    def _hold(self, signum: int, _frame: object) -> None:
        self.pending = Interrupted(signum)

    def check(self) -> None:
        """Raise the held interrupt, if any (call it where stopping is safe)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            raise pending


@contextmanager
def deferred_interrupts() -> Iterator[DeferredInterrupt]:
    """Within the block, Ctrl-C and SIGTERM are held until ``check()``; outside it they act as
    before. Outside the main thread signals cannot be caught, and nothing changes."""
    deferred = DeferredInterrupt()
    if threading.current_thread() is not threading.main_thread():
        yield deferred
        return
    previous = {number: signal.signal(number, deferred._hold) for number in STOP_SIGNALS}
    try:
        yield deferred
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    deferred.check()
