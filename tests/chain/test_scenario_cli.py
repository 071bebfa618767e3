"""`scenario generate --world evm` makes a self-contained slot on the real Uniswap V2 contracts
(an embedded anvil, started and stopped by the generator); `auction` replays it offline."""

import json
import os
import subprocess
import sys

import pytest

from repo_paths import ROOT, SRC

pytestmark = pytest.mark.slow  # the generator starts anvil; the auction runs an evm slot


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_generated_real_uniswap_slot_replays_offline(tmp_path):
    slot = tmp_path / "slot.json"
    gen = cli("scenario", "generate", "--world", "evm", "--orders", "30", "--seed", "2",
              "--builder", "mgp-ordering", "-o", str(slot))
    assert gen.returncode == 0, gen.stderr
    doc = json.loads(slot.read_text())
    world = doc["world"]
    assert "fork_url" not in world and world["state"], "self-contained: the state is embedded, no node named"
    assert world["chain_id"] == 31337 and world["parent"]["number"] == world["block"]["number"] - 1
    codes = [acc.get("code", "") for acc in world["state"].values()]
    router_selector = "38ed1739"  # swapExactTokensForTokens: Router02's real bytecode is in the state
    assert any(router_selector in code for code in codes)
    run = cli("auction", str(slot), "--json", "-")  # no node is running now
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["block"], "orders were included"
    kinds = {o["id"].rstrip("0123456789.") for o in doc["orders"] if o["id"] in set(report["block"])}
    assert {"swap", "backrun"} & kinds
