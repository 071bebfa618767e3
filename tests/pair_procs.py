"""A running two-party pair (``mevauction sealed party serve``: a garbler and an evaluator
on 127.0.0.1 with a fresh CA) and its ``mevauction.2pc-parties/1`` file, for the tests."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from mevauction.privacy.client import free_ports
from mevauction.privacy.twoparty.local import PARTIES_FORMAT
from repo_paths import ROOT, SRC

ENV = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True, cwd=ROOT,
                          env=ENV, timeout=timeout)


@contextlib.contextmanager
def running_pair(where: Path, close_timeout: float = 3) -> Iterator[tuple[Path, dict, list, tuple[int, int]]]:
    """(parties file, its document, the [evaluator, garbler] processes, their ports)."""
    tls_dir = where / "tls"
    assert cli("sealed", "party", "certs", "--out", str(tls_dir)).returncode == 0
    g_port, e_port = free_ports(2)
    base = [sys.executable, "-m", "mevauction", "sealed", "party", "serve", "--tls-dir", str(tls_dir),
            "--close-timeout", str(close_timeout)]
    procs = [subprocess.Popen([*base, "--role", "evaluator", "--listen", f"127.0.0.1:{e_port}",
                               "--key-file", str(where / "evaluator.key")], env=ENV, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen([*base, "--role", "garbler", "--listen", f"127.0.0.1:{g_port}",
                               "--key-file", str(where / "garbler.key"),
                               "--peer", f"127.0.0.1:{e_port}"], env=ENV, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    parties = {"format": PARTIES_FORMAT, "tls_dir": str(tls_dir), "garbler": f"127.0.0.1:{g_port}",
               "evaluator": f"127.0.0.1:{e_port}"}
    path = where / "parties.json"
    path.write_text(json.dumps(parties))
    try:
        yield path, parties, procs, (g_port, e_port)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
