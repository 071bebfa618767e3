"""The settlement worker process, tied to the life of the service.

The auction runs in a worker process (a spawned ``ProcessPoolExecutor`` of one), so a long
auction never stalls intake. The pool's worker and the multiprocessing resource tracker
are children of the service; killed with SIGKILL, the service runs no clean-up, and
without more they would live on. So the worker asks the kernel to kill it when its
parent dies (Linux ``PR_SET_PDEATHSIG``; elsewhere a thread watches the parent), and the
resource tracker exits by itself once the last process holding its pipe is gone.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 0.5


def start_pool(warm: bool = True) -> ProcessPoolExecutor:
    """A one-worker pool whose worker dies with this process. ``warm``: wait until the
    worker has imported the auction code, so the first deadline does not pay for it."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"),
                               initializer=die_with_parent, initargs=(os.getpid(),))
    if warm:
        pool.submit(warm_worker).result()
    return pool


def die_with_parent(parent: int) -> None:
    """Worker initializer: exit when ``parent`` (the service) exits, however it exits.

    SIGTERM (a stop sent to the service's process group reaches the worker too) ends it
    through the interpreter's normal exit, so its exit handlers run: the jails started
    ahead for the next slot (sandbox/warm.py) are torn down, their directories and
    control groups removed, instead of left behind by the default action."""
    signal.signal(signal.SIGTERM, _exit_on_term)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # it died before the request took effect
                os._exit(1)
            return
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)


def warm_worker() -> bool:
    """Import the auction code in the worker; False if the mechanism is not installed.
    Also removes what the jails of a killed earlier worker left (sandbox/jail.py)."""
    import importlib
    try:
        importlib.import_module("mevauction.mechanism.boost")
    except ImportError:
        return False
    from mevauction.sandbox.jail import sweep_orphans

    sweep_orphans()
    return True
