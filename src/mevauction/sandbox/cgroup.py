"""A per-run control group for a jail: one memory cap and one task cap over the whole
process tree (rlimits are per process, or per uid for processes).

Used when this host lets us make one, else the jail relies on its rlimits alone
(docs/algorithms.md, "Resource limits"). Either hierarchy works:

- cgroup v2 with ``memory`` and ``pids`` in the root's ``cgroup.subtree_control``
  (``memory.max``, ``pids.max``);
- cgroup v1 ``memory`` and ``pids`` hierarchies (``memory.limit_in_bytes``,
  ``memory.memsw.limit_in_bytes`` where swap accounting exists, ``pids.max``) — what
  this project's CI VM offers to root: its unified mount carries only ``hugetlb``.

The jail's first process moves itself in (:func:`enter_prefix`, a ``sh`` in front of
prlimit) before any algorithm code runs, so every descendant is counted; the host
removes the group after the jail is reaped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
SH = "/bin/sh"


@dataclass(frozen=True, slots=True)
class Layout:
    version: int  # 1 or 2
    memory: Path  # where run groups are made, per controller (the same dir for v2)
    pids: Path


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


@cache
def layout() -> Layout | None:
    """Where per-run groups can be made here, or None (then rlimits only)."""
    if os.environ.get("MEVAUCTION_NO_CGROUP"):
        return None
    v2 = ROOT / "cgroup.subtree_control"
    try:
        if v2.exists() and {"memory", "pids"} <= set(v2.read_text().split()) and _writable_dir(ROOT):
            return Layout(2, ROOT, ROOT)
    except OSError:
        pass
    mem, pids = ROOT / "memory", ROOT / "pids"
    if _writable_dir(mem) and _writable_dir(pids) and (mem / "memory.limit_in_bytes").exists():
        return Layout(1, mem, pids)
    return None


class RunGroup:
    """One jail's control group (both controllers); ``procs`` are the files to join."""

    def __init__(self, where: Layout, memory_bytes: int, tasks: int):
        self.name = f"mevalgo-{os.getpid()}-{secrets.token_hex(8)}"  # the maker's pid: jail.sweep_orphans
        self.dirs = [where.memory / self.name] if where.version == 2 else [where.memory / self.name,
                                                                            where.pids / self.name]
        for d in self.dirs:
            d.mkdir(mode=0o700)
        if where.version == 2:
            (self.dirs[0] / "memory.max").write_text(str(memory_bytes))
            swap = self.dirs[0] / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")  # no swapping past the cap
            (self.dirs[0] / "pids.max").write_text(str(tasks))
        else:
            (self.dirs[0] / "memory.limit_in_bytes").write_text(str(memory_bytes))
            memsw = self.dirs[0] / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                with contextlib.suppress(OSError):  # swap accounting may be compiled out
                    memsw.write_text(str(memory_bytes))  # no swapping past the cap
            (self.dirs[1] / "pids.max").write_text(str(tasks))
        self.procs = [str(d / "cgroup.procs") for d in self.dirs]

    def enter_prefix(self) -> list[str]:
        """argv prefix: join the groups, then exec the rest (no fork of the service needed)."""
        joins = " && ".join(f'echo $$ > "{p}"' for p in self.procs)
        return [SH, "-c", f'{joins} && exec "$@"', "mevalgo-cgroup"]

    def value(self, controller_file: str) -> str | None:
        for d in self.dirs:
            if (d / controller_file).exists():
                try:
                    return (d / controller_file).read_text().strip()
                except OSError:
                    return None
        return None

    def remove(self) -> None:
        """Kill whatever is left in the group (a child the pid namespace's teardown has not
        reached yet) and remove it; a group still busy after that is left, named mevalgo-*."""
        for _ in range(50):
            for proc in self.procs:
                try:
                    pids = [int(p) for p in Path(proc).read_text().split()]
                except (OSError, ValueError):
                    pids = []
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            try:
                for d in self.dirs:
                    if d.exists():
                        d.rmdir()
                return
            except OSError:
                time.sleep(0.002)


def run_group(memory_bytes: int, tasks: int) -> RunGroup | None:
    where = layout()
    if where is None:
        return None
    try:
        return RunGroup(where, memory_bytes, tasks)
    except OSError:
        return None


def sweep_orphans(orphaned: Callable[[str], bool]) -> int:
    """Remove the empty run groups whose name ``orphaned`` accepts (rmdir refuses a group
    with a process still in it, so nothing running is touched)."""
    where = layout()
    if where is None:
        return 0
    gone = 0
    for base in {where.memory, where.pids}:
        for group in base.glob("mevalgo-*-*"):
            if orphaned(group.name):
                try:
                    group.rmdir()
                    gone += 1
                except OSError:
                    pass  # not empty (a process still in it) or gone meanwhile: leave it
    return gone
