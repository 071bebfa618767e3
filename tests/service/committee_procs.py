"""The committee servers of a running ``serve --sealed``, found as any local user can: in
/proc, among the service's descendants (no public endpoint names them)."""

from __future__ import annotations

import os
from pathlib import Path

from service_harness import ServerProcess


def committee_servers(server: ServerProcess) -> list[tuple[int, tuple[str, int]]]:
    """(pid, intake address) of the service's committee servers, found as a local user can:
    in /proc, among the service's descendants."""
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
    found = []
    for pid in sorted(p for p in parents if descends(p)):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"committee" in argv and b"--intake" in argv:
            host, port = argv[argv.index(b"--intake") + 1].decode().rsplit(":", 1)
            found.append((pid, (host, int(port))))
    return found
