"""A guard against a reference-count bug in PySide6's signals, found with PySide6 6.12.0.

`Signal.emit()` and `Signal.connect()` return `True` without owning a reference to it, so every
call takes one reference away from `True`. On Python 3.11, where `True` is an ordinary object,
a few thousand signals later the interpreter aborts with "Fatal Python error: bool_dealloc" —
in the app after minutes of use, in qasync after a few thousand `asyncio.to_thread` calls.

The same happens to `None` on other paths (slots run across threads, as qasync does).
`guard_bool_refcounts()` measures the leak on a probe signal and, only if there is one, gives
`True`, `False` and `None` so many references that no session can use them up. On Python 3.12+ the two
are immortal and nothing needs doing.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_GUARD = 1 << 40  # a trillion signals
_state = {"guarded": False}


class _Probe(QObject):
    ping = Signal()


def emit_leaks_true() -> bool:
    """Whether emitting a signal takes a reference away from True (the bug is present)."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(4):
        probe.ping.emit()
    after = sys.getrefcount(True)
    if after < before:
        _add_references(True, before - after)  # give back what the probe took
        return True
    return False


def _add_references(obj: object, count: int) -> None:
    # CPython's object header starts with the reference count (Py_ssize_t) in release builds.
    ctypes.c_ssize_t.from_address(id(obj)).value += count


def guard_bool_refcounts() -> bool:
    """Make the leak harmless if this PySide6 has it; True when the guard was applied."""
    if _state["guarded"]:
        return True
    if sys.version_info >= (3, 12) or not emit_leaks_true():
        return False
    # None suffers the same in slots invoked across threads (qasync's executor): guard it too.
    for singleton in (True, False, None):
        _add_references(singleton, _GUARD)
    _state["guarded"] = True
    return True
