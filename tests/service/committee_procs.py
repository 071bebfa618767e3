"""The committee servers of a running ``serve --sealed``, found as any local user can: in
/proc, among the service's descendants (no public endpoint names them)."""

from __future__ import annotations

import os
from pathlib import Path

from service_harness import ServerProcess


def descendants(server: ServerProcess) -> list[int]:
    """The pids below the service process, in order, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == server.proc.pid:
                return True
        return False
    return sorted(p for p in parents if descends(p))


def _argvs(server: ServerProcess):
    """(pid, argv) of each of the service's descendants, read from /proc as a local user can."""
    for pid in descendants(server):
        try:
            yield pid, Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue


def committee_servers(server: ServerProcess) -> list[tuple[int, tuple[str, int]]]:
    """(pid, intake address) of the service's committee servers, among its descendants."""
    found = []
    for pid, argv in _argvs(server):
        if b"committee" in argv and b"--intake" in argv:
            host, port = argv[argv.index(b"--intake") + 1].decode().rsplit(":", 1)
            found.append((pid, (host, int(port))))
    return found


def pair_parties(server: ServerProcess) -> list[tuple[int, str]]:
    """(pid, role) of the 2PC parties of a ``serve --sealed --backend 2pc``, garbler first,
    among the service's descendants."""
    module = b"mevauction.privacy.twoparty.party"
    found = [(pid, argv[argv.index(module) + 1].decode()) for pid, argv in _argvs(server) if module in argv]
    return sorted(found, key=lambda f: f[1] != "garbler")
