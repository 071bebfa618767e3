"""What a killed service's jails left is removed by the next one (sandbox/jail.py).

A service killed with SIGKILL runs no clean-up: its jails' directories (``/dev/shm``)
and control groups stay. Each is named after the process that made it
(``mevalgo-<pid>-…``), and ``sweep_orphans`` — run when a settlement worker starts —
removes those whose maker is gone, and nothing else: not a live process's, not an
old-style name it cannot attribute.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mevauction.sandbox import cgroup
from mevauction.sandbox.jail import _work_root, owned_prefix, sweep_orphans


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_a_dead_makers_directories_and_groups_go():
    root = Path(_work_root() or tempfile.gettempdir())
    dead = dead_pid()
    orphan = Path(tempfile.mkdtemp(prefix=f"mevalgo-{dead}-", dir=root))
    (orphan / "algo").mkdir()
    (orphan / "algo" / "main.py").write_text("left behind")
    mine = Path(tempfile.mkdtemp(prefix=owned_prefix(), dir=root))
    unnamed = Path(tempfile.mkdtemp(prefix="mevalgo-", dir=root))  # no maker's pid in it
    where = cgroup.layout()
    groups = []
    if where is not None:
        for name in (f"mevalgo-{dead}-sweeptest", f"mevalgo-{os.getpid()}-sweeptest"):
            (where.memory / name).mkdir()
            groups.append(where.memory / name)
    try:
        sweep_orphans()
        assert not orphan.exists()
        assert mine.exists() and unnamed.exists()
        if groups:
            assert not groups[0].exists() and groups[1].exists()
    finally:
        for path in (mine, unnamed, orphan):
            if path.exists():
                subprocess.run(["rm", "-rf", str(path)], check=False)
        for group in groups:
            if group.exists():
                group.rmdir()
