"""`mevauction auction` with script builders and `mevauction algorithm new|check`, as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from mevauction.intake import workloads
from mevauction.sandbox.jail import jail_problem
from repo_paths import ROOT, SRC

pytestmark = [
    pytest.mark.slow,  # each run jails algorithms for up to a second
    pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}"),
]


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True,
                          cwd=cwd, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_auction_runs_the_reference_algorithms_and_reports_a_crash(tmp_path):
    for name in ("greedy_lookahead.py", "local_search.py"):
        shutil.copy(ROOT / "examples" / "algorithms" / name, tmp_path / name)
    (tmp_path / "crash.py").write_text("raise RuntimeError('boom')\n")
    doc = workloads.generate("amm", 80, 5, builders=[])
    doc["builders"] = [{"id": "GL", "script": "greedy_lookahead.py"}, {"id": "LS", "script": "local_search.py"},
                       {"id": "X", "script": "crash.py"}, {"id": "MP", "algorithm": "mp-ordering"}]
    (tmp_path / "s.json").write_text(json.dumps(doc))
    out = cli("auction", str(tmp_path / "s.json"), "--json", "-")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    by_id = {b["id"]: b for b in report["builders"]}
    assert by_id["GL"]["valid"] and by_id["LS"]["valid"] and by_id["MP"]["valid"]
    assert int(by_id["GL"]["value"]) > 0 and by_id["LS"]["bid"] == by_id["LS"]["value"]
    # Its kind only, as on the service: its stderr is a channel out of the jail.
    assert not by_id["X"]["valid"] and by_id["X"]["reason"] == "crashed", by_id["X"]


def test_new_then_check(tmp_path):
    assert cli("algorithm", "new", cwd=tmp_path).returncode == 0
    again = cli("algorithm", "new", cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "exists" in again.stderr
    out = cli("algorithm", "check", "my_algorithm.py", "--orders", "60", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["valid"] and int(result["block_value"]) > 0 and result["run"]["requests"] > 0
    bad = cli("algorithm", "check", "missing.py", cwd=tmp_path)
    assert bad.returncode == 2 and "cannot read" in bad.stderr and bad.stderr.count("\n") == 1
