"""Submitted algorithms on ``serve --sealed`` (issue 13 item 4), against real service
processes and the real committee processes.

An algorithm seals its own bid inside its jail to the committee's pinned keys
(``mevseal``); the service forwards the envelopes and never holds the amount. In one
slot: an algorithm that bids a chosen amount (wins), an ordinary sealed builder bid
(sets the price), an algorithm whose sealed output is malformed, and one that seals to
keys that are not the committee's. The amount must be nowhere the operator keeps (the
database file, its write-ahead log, the service's log, the report, every public
response), in decimal or hex; each bad algorithm is its builder's entry with a reason,
the slot settles, and winner and price are those of the same slot on a plaintext service.
A wasm module (tests/sandbox/wasm/sealed_bidder.c: greedy, then a bid of its own
choosing, below the price) runs in its jail too and seals its bid there: its amount is
nowhere either, its entry is valid, and the plaintext twin runs the same module.
The same on the two-party backend (``--backend 2pc``), where the jail XOR-splits the bid
for the garbler and the evaluator.
"""

from __future__ import annotations

import shutil
import time

import pytest
from service_harness import ServerProcess

from committee_wire import SEALED_ORDERS
from mevauction.client import Client, Signer
from wasm_modules import build_test_modules

pytestmark = pytest.mark.slow  # service processes with an MPC committee and jails

pytest.importorskip("mevauction.privacy.builder_auction")

CHOSEN = 6_271_904_455_813_302_617  # the algorithm's bid, ≈ 6.3 ETH: wins, never revealed
SECOND = 2_918_336_027_451_190_843  # an ordinary sealed bid: sets the price, revealed as it
BLOCK = ["o2", "o1", "o4", "o3"]  # the best block of M \ S
MODULE_BID = 1_846_203_557_120_939_517  # sealed_bidder.c's bid: loses, never revealed
FORMS = {"decimal": str(CHOSEN), "hex": f"{CHOSEN:x}", "module decimal": str(MODULE_BID),
         "module hex": f"{MODULE_BID:x}", "module bytes": MODULE_BID.to_bytes(8, "little").hex(),
         "16 bytes": CHOSEN.to_bytes(16, "little").hex(), "module 16 bytes": MODULE_BID.to_bytes(16, "big").hex()}

BIDDER = f'''
import mevalgo

def build(slot, sim):
    ids = {{o.id for o in slot.orders}}
    return [i for i in {BLOCK!r} if i in ids], {CHOSEN}

mevalgo.run(build)
'''
# Sealed output of the wrong shape: one envelope for a committee of three.
MALFORMED = '''
import json, sys
slot = json.loads(sys.stdin.readline())["slot"]
print(json.dumps({"op": "submit", "sequence": [], "sealed": {"commitment": "0x00",
      "share_hashes": ["0x00"], "ciphertexts": ["0x00"]}}), flush=True)
'''
# Well formed, but sealed to keys of its own instead of the committee's: nothing opens.
WRONG_KEYS = f'''
import secrets
import mevalgo
import mevseal

def build(slot, sim):
    fake = ["0x" + mevseal._compress(mevseal._mul(1 + secrets.randbelow(mevseal._N - 1), mevseal._G)).hex()
            for _ in slot.sealed["members"]]
    slot.sealed["members"][:] = fake
    ids = {{o.id for o in slot.orders}}
    return [i for i in {BLOCK!r} if i in ids], {CHOSEN + 1}

mevalgo.run(build)
'''

ALGO, PLAIN, BAD, WRONG, MODULE = (Signer.random() for _ in range(5))
REGISTRY = [arg for b in (ALGO, PLAIN, BAD, WRONG, MODULE) for arg in ("--builder", f"{b.address}={10**24}")]
BUDGET = ["--algorithm-budget-ms", "1500"]


def entry(report: dict, signer: Signer) -> dict | None:
    return next((b for b in report["builders"] if b["id"].lower() == signer.address.lower()), None)


def slot_after_submitting(client: Client, submit) -> int:
    """Submit, then the first slot the submissions run in with ≥ 1.5 s left to send to it."""
    submit()
    info = client.slot()
    return info["slot"] + (2 if info["deadline_ms"] / 1000 - time.time() < 1.5 else 1)


@pytest.fixture(scope="module")
def module(tmp_path_factory) -> bytes:
    if shutil.which("clang") is None or shutil.which("wasm-ld") is None:
        pytest.skip("clang/lld not installed (scripts/setup.sh installs them)")
    return build_test_modules(tmp_path_factory.mktemp("wasm"))["sealed_bidder"]


def run_slot(server: ServerProcess, sealed: bool, module: bytes) -> dict:
    def submit():
        scripts = ((ALGO, BIDDER), (BAD, MALFORMED), (WRONG, WRONG_KEYS)) if sealed else ((ALGO, BIDDER),)
        for signer, code in scripts:
            with Client(server.url, signer) as c:
                c.submit_algorithm("python", code, 1)
        with Client(server.url, MODULE) as m:
            m.submit_algorithm("wasm", module, 1)
    with Client(server.url, Signer.random()) as searcher, Client(server.url, PLAIN) as plain:
        slot = slot_after_submitting(searcher, submit)
        for order in SEALED_ORDERS:
            searcher.send_order(order, slot)
        if sealed:
            plain.send_sealed_builder_bid(slot, SECOND, block=BLOCK)
        else:
            plain.send_builder_bid(slot, bid=SECOND, block=BLOCK)
        return searcher.wait_report(slot, timeout=60)


@pytest.mark.parametrize("backend", ["mpc", "2pc"])
def test_an_algorithms_sealed_bid_reaches_the_committee_and_never_the_service(tmp_path, module, backend):
    sealed = ServerProcess(f"sqlite:///{tmp_path / 'sealed.db'}", slot_seconds=3.0,
                           extra=["--sealed", "--backend", backend, *REGISTRY, *BUDGET], log=tmp_path / "sealed.log")
    twin = ServerProcess(f"sqlite:///{tmp_path / 'plain.db'}", slot_seconds=2.0, extra=[*REGISTRY, *BUDGET])
    sealed.start()
    try:
        report = run_slot(sealed, sealed=True, module=module)
        time.sleep(0.5)  # the log and the database are written
        kept = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        with Client(sealed.url) as anyone:
            public = {m: str(anyone.call(m, p)) for m, p in (("mev_slot", []),)}
    finally:
        sealed.stop()
    assert "error" not in report, report
    print(f"\nsealed: winner {report['winner']} price {report['price']}")
    for signer, name in ((BAD, "malformed"), (WRONG, "wrong keys")):
        got = entry(report, signer)
        print(f"  {name:10s} → {got and got.get('reason')}")
        assert got is not None and got["valid"] is False, (name, got)
    assert entry(report, BAD)["reason"] == "protocol violation"
    assert entry(report, WRONG)["reason"].startswith("sealed bid refused by the committee"), entry(report, WRONG)
    assert report["winner"] == ALGO.address and int(report["price"]) == SECOND, report
    got = entry(report, MODULE)
    print(f"  wasm module → {got}")
    assert got is not None and got["valid"] is True and not got.get("reason"), got
    for where, data in {**kept, "report": str(report).encode(), **{k: v.encode() for k, v in public.items()}}.items():
        for form, text in FORMS.items():
            assert text.encode() not in data, f"the algorithm's bid ({form}) is in {where}"

    twin.start()  # the same slot where the service reads bids: the same winner and price
    try:
        clear = run_slot(twin, sealed=False, module=module)
    finally:
        twin.stop()
    assert "error" not in clear, clear
    assert (clear["winner"], clear["price"]) == (report["winner"], report["price"]), (clear, report)
