"""Jails started before the deadline ("warm"), so their start leaves the critical path.

A slot's algorithms are fixed before it opens (a submission runs from the next slot),
so each can have its jail started ahead of the deadline: bubblewrap, the guest's
interpreter and everything the guest does before it reads the slot message — the
algorithm's own imports and ``mevalgo``; in a sealed slot ``mevseal`` with its compiled
Keccak and libcrypto; for a wasm module (sealed slots), wasmtime imported and the module
compiled (``guest/wasmhost.py``). The jail then blocks on its stdin; at the deadline
the run only writes the slot message into it (:mod:`.runner`).

Why this is as isolated as a jail started at the deadline:

- one jail per algorithm per slot: a :class:`WarmJails` is made for one slot, each of
  its jails is claimed at most once, and claimed, it is that run's jail, killed and
  removed after it like any other; what is not claimed is torn down by :meth:`close`
  (the slot is over). No jail sees a second slot message, so nothing a run learnt or
  wrote in one slot is anywhere in the next (each jail has its own ``/tmp``, namespaces
  and, as root, its own uid);
- a jail is claimed only by the run it was started for: the same id (the builder), the
  same runtime, the same code (its SHA-256: the code is already in the jail's read-only
  ``/algo``), the same limits and the same sealing. Anything else starts cold, so a jail
  started for builder A never runs B's code, nor A's next version;
- before the slot message it has seen nothing of the slot: no order, no deadline, no
  committee, no fee recipient. What it can do while it waits (spin, exit, write to its
  own ``/tmp``) it could do in its budget, under the same rlimits (CPU seconds spent
  waiting count against its own CPU limit).

The jails are started by one long-lived thread of this process: ``--die-with-parent``
is ``PR_SET_PDEATHSIG``, which fires when the *thread* that started the jail ends, so a
jail started from a short-lived thread (an executor's, an asyncio ``to_thread``) would
die with it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future

from mevauction.sandbox.jail import Jailed, Limits, Program, jail_problem, teardown, teardown_later, wasm_jail_problem

Key = tuple[str, str, bytes, Limits, bool]


def key(rid: str, program: Program, limits: Limits, sealed: bool) -> Key:
    """Everything a warm jail was started with: a run claims it only if all of it matches."""
    return rid, program.runtime, hashlib.sha256(program.code).digest(), limits, sealed


_starts: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_starter: threading.Thread | None = None
_starter_lock = threading.Lock()


def _start_loop() -> None:
    while True:
        _starts.get()()


def _submit(fn: Callable[[], Jailed]) -> Future[Jailed]:
    global _starter
    with _starter_lock:
        if _starter is None:
            _starter = threading.Thread(target=_start_loop, name="jail-starter", daemon=True)
            _starter.start()
    out: Future[Jailed] = Future()

    def start() -> None:
        if not out.set_running_or_notify_cancel():
            return  # closed before its turn: never started
        try:
            out.set_result(fn())
        except BaseException as exc:
            out.set_exception(exc)
    _starts.put(start)
    return out


def jailed_in(program: Program, sealed: bool) -> bool:
    """Whether the run goes to a jail (a Python script; a wasm module only in a sealed slot)."""
    return program.runtime == "python" or (program.runtime == "wasm" and sealed)


class WarmJails:
    """One slot's jails, started in the background now; each claimed once, the rest closed."""

    def __init__(self, programs: Mapping[str, Program], limits: Limits, sealed: bool = False):
        self.jails: dict[Key, Future[Jailed]] = {}
        self.lock = threading.Lock()
        self.closed = False
        _open.add(self)
        if jail_problem() is not None:
            return  # the runs report it themselves
        for rid, program in programs.items():
            if not jailed_in(program, sealed) or (program.runtime == "wasm" and wasm_jail_problem() is not None):
                continue
            self.jails[key(rid, program, limits, sealed)] = _submit(functools.partial(Jailed, program, limits, sealed))

    def claim(self, rid: str, program: Program, limits: Limits, sealed: bool) -> Jailed | None:
        """The jail started for exactly this run, at most once; None: start one cold."""
        with self.lock:
            found = None if self.closed else self.jails.pop(key(rid, program, limits, sealed), None)
        if found is None:
            return None
        try:
            return found.result()  # at most the starter's queue of Popens (milliseconds)
        except Exception:
            return None

    def close(self, wait: bool = False) -> None:
        """Tear down every jail not claimed (in the background, or now with ``wait``); none
        can be claimed after."""
        with self.lock:
            self.closed = True
            left, self.jails = list(self.jails.values()), {}
        _open.discard(self)
        for f in left:
            if f.cancel():
                continue  # never started
            if wait:
                with contextlib.suppress(Exception):
                    teardown(f.result(timeout=10))
            else:  # started, or being started: torn down once it is
                f.add_done_callback(_discard)

    def __enter__(self) -> WarmJails:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _discard(f: Future[Jailed]) -> None:
    if f.exception() is None:
        teardown_later(f.result())


# Every set not closed yet (held here, so one dropped unclosed is still torn down at exit,
# and no jail directory is left behind).
_open: set[WarmJails] = set()


@atexit.register
def _close_all() -> None:
    for warm in list(_open):
        warm.close(wait=True)
