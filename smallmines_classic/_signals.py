"""How a process stops: stop signals raise an exception, so clean-ups run, and workers end with their parent.

:func:`stop_on_signals` turns SIGTERM and SIGINT into :class:`Interrupted`,
so the same clean-up runs on a stop as on an error; :func:`signals_held`
defers them over a step that must not be cut in two (a commit).
:func:`exit_with_parent` makes worker processes end with their parent.
"""

import contextlib
import ctypes
import os
import signal
import sys
import threading

__all__ = ["Interrupted", "stop_on_signals", "signals_held", "exit_with_parent"]


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGINT) arrived; raised so that every ``finally`` clean-up runs."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


@contextlib.contextmanager
def signals_held(signals=(signal.SIGTERM, signal.SIGINT)):
    """Hold stop signals in this thread until the block ends, so a stop cannot cut a commit in two; they act after."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def stop_on_signals(signals=(signal.SIGTERM, signal.SIGINT)):
    """Within the block, the first of ``signals`` raises :class:`Interrupted`; later ones wait for the clean-up.

    Only the main thread can install handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        for sig in signals:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def exit_with_parent(parent_pid):
    """Worker-process initializer: end this process when ``parent_pid`` dies, so no worker writes after its parent.

    On Linux the kernel kills the worker (``PR_SET_PDEATHSIG``); elsewhere a
    thread polls the parent. Stop signals are left to the parent, which
    stops its workers between tasks.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    else:
        def watch():
            while os.getppid() == parent_pid:
                threading.Event().wait(0.5)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)
