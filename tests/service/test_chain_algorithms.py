"""Submitted algorithms on a chain (``serve --chain`` against a real anvil; issue 13 on the devnet).

Two registered builders submit by ``mev_submitAlgorithm``: a Python script that builds
greedily on the slot's forked EVM world and outbids the default from its deposit, and
the reference wasm module (truthful). At the deadline both run in chain mode (the
script in its jail, started ahead of the deadline), the report names each one's
outcome, the script's block wins, and that block is the one mined on anvil, verified
from chain data.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
from service_harness import ServerProcess
from test_chain_service import nonce_of, wait_delivery

from chain_harness import DEV_KEYS, transfer
from mevauction.chain.node import Anvil
from mevauction.client import Client, Signer
from mevauction.sandbox.jail import jail_problem

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}")]
pytest.importorskip("pyrevm")
GREEDY_WASM = Path(__file__).resolve().parents[2] / "examples" / "algorithms" / "wasm" / "greedy.wasm"
OUTBID = 10**15  # wei above its block's value, from its deposit

# Greedy on what each order pays alone; an order that fails on top of the block so far
# (here: a second transaction with the same nonce) is popped. It outbids the default.
# Its jail must have been started ahead of the deadline (its clock is the host's: the run
# began 90 % of the budget before the deadline it is told), else its block repeats an id.
TOKEN = secrets.token_hex(8)  # names this test's jails: none may be left once the service stops
SCRIPT = f'''
# {TOKEN}
import time
import mevalgo

STARTED = time.monotonic()

def build(slot, sim):
    if slot.deadline - 0.9 * slot.budget_ms / 1000 - STARTED < 0.1:
        return [o.id for o in slot.orders] * 2, 0  # started in its budget: not ahead
    block = []
    for o in sorted(slot.orders, key=lambda o: -o.alone.bid):
        if sim.push(o.id).success:
            block.append(o.id)
        else:
            sim.pop()
    return block, sim.simulate(block)[1] + {OUTBID}

mevalgo.run(build)
'''


@pytest.fixture()
def node():
    with Anvil() as n:
        yield n


def entry(doc: dict, builder: Signer) -> dict | None:
    return next((b for b in doc["builders"] if b["id"].lower() == builder.address.lower()), None)


def test_submitted_algorithms_run_on_the_chain_and_the_winners_block_is_mined(tmp_path, node):
    script, module = Signer.random(), Signer.random()
    extra = ["--chain", node.url, "--algorithm-budget-ms", "1000"]
    for s in (script, module):
        extra += ["--builder", f"{s.address}={10**19}"]
    srv = ServerProcess(f"sqlite:///{tmp_path / 'a.db'}", slot_seconds=3.0, extra=extra,
                        log=tmp_path / "a.log").start()
    try:
        k0, k1 = DEV_KEYS[0], DEV_KEYS[1]
        with Client(srv.url, script) as s, Client(srv.url, module) as m, Client(srv.url, Signer.random()) as c:
            first = c.slot()["slot"]
            runs_from = int(s.submit_algorithm("python", SCRIPT, 1)["fromSlot"], 16)
            assert int(m.submit_algorithm("wasm", GREEDY_WASM.read_bytes(), 1)["fromSlot"], 16) == runs_from
            assert runs_from == first + 1
            # The open slot has orders, so its block is mined and the next one opens.
            c.send_bundle([transfer(k1, nonce_of(node, k1), "0x" + "40" * 20)], first)
            before = wait_delivery(srv.url, first)
            assert entry(before, script) is None, "ran in the slot open when it was submitted"
            slot = c.slot()["slot"]
            assert slot == runs_from, (slot, runs_from)
            n0 = nonce_of(node, k0)
            low = c.send_bundle([transfer(k0, n0, "0x" + "41" * 20, tip=10**9)], slot)
            high = c.send_bundle([transfer(k0, n0, "0x" + "42" * 20, tip=3 * 10**9)], slot)  # same nonce
            free = c.send_bundle([transfer(k1, nonce_of(node, k1), "0x" + "43" * 20)], slot)
        doc = wait_delivery(srv.url, slot)
        ran, wasm = entry(doc, script), entry(doc, module)
        print(f"\nslot {slot}: script {ran}\n  wasm {wasm}\n  winner {doc['winner']}, block {doc['block']}")
        assert ran is not None and ran["valid"], ran
        assert wasm is not None and wasm["valid"], wasm
        assert doc["winner"].lower() == script.address.lower(), doc["winner"]
        assert set(doc["block"]) == {high, free} and low not in doc["block"]
        d = doc["delivery"]
        assert d["verification"]["ok"], d["verification"]
        mined = node.client().block(slot, full=True)
        assert mined["hash"] == d["hash"]
        assert {t["order"] for t in d["txs"]} == {high, free}
        assert [t["hash"] for t in mined["transactions"]][:len(d["txs"])] == [t["hash"] for t in d["txs"]]
        assert int(d["funding"]) > 0, "the script's bid beyond what its block paid came from its deposit"
    finally:
        srv.stop()
    # The next slot's jails were waiting (started ahead) when it stopped: they are torn down.
    left = left_behind()
    give_up = time.monotonic() + 10
    while left and time.monotonic() < give_up:
        time.sleep(0.1)
        left = left_behind()
    assert not left, f"jails started ahead were left behind by a stopped service: {left}"


def left_behind() -> list[Path]:
    """This test's jail directories still on disk (jail.py makes them under /dev/shm or the temp dir)."""
    import tempfile

    found = []
    for root in {Path("/dev/shm"), Path(tempfile.gettempdir())}:
        for d in root.glob("mevalgo-*"):
            try:
                if TOKEN in (d / "algo" / "main.py").read_text():
                    found.append(d)
            except OSError:
                continue
    return found
