"""highspy without noise on stdout (stdout carries results); no Pyomo here."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

import highspy

_LIBC = ctypes.CDLL(None)


@contextlib.contextmanager
def _stdout_to_stderr(discard: bool = False):
    """HiGHS writes on stdout from C++; keep stdout for results (send it to stderr, or
    discard it: the banner at the first construction, whose version we record anyway)."""
    sys.stdout.flush()
    saved = os.dup(1)
    sink = os.open(os.devnull, os.O_WRONLY) if discard else 2
    try:
        os.dup2(sink, 1)
        yield
    finally:
        _LIBC.fflush(None)  # C stdio buffers, where HiGHS writes
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        if discard:
            os.close(sink)


def new_highs() -> highspy.Highs:
    """A HiGHS instance, without the banner on the terminal."""
    with _stdout_to_stderr(discard=True):
        return highspy.Highs()
