"""The sealed commands through the CLI, the offline verifier, and the Boost+ plug-in."""

import copy
import json
import random
import subprocess
import sys

import pytest
from sealed_helpers import assert_replay_matches_relay

from mevauction.eth.secp256k1 import address_of
from mevauction.mechanism.auction import second_price_with_reserve
from mevauction.privacy import messages
from mevauction.privacy.builder_auction import sealed_builder_auction
from mevauction.privacy.transcript import verify
from repo_paths import DATA, ROOT, SRC

pytestmark = pytest.mark.slow


def cli(*args):
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, timeout=300)


def key(i: int) -> str:
    return f"0x{i + 1:064x}"


def bidder(i: int) -> str:
    """Bidder i's label: the address of its key (an address label is bound to its key)."""
    return address_of(int(key(i), 16).to_bytes(32, "big"))


def bids_file(tmp_path, amounts, name="bids.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"format": "mevauction.bids/1",
                                "bids": [{"bidder": bidder(i), "key": key(i), "amount": a}
                                         for i, a in enumerate(amounts)]}))
    return path


def test_run_second_price_report_and_transcript(tmp_path):
    amounts = [120, 300, 250, 300, 7]
    out = tmp_path / "report.json"
    proc = cli("sealed", "run", "--bids", str(bids_file(tmp_path, amounts)), "--mechanism", "second",
               "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["format"] == "mevauction.sealed/1"
    assert (report["mechanism"], report["parties"], report["n_bids"]) == ("second", 3, 5)
    assert report["winner"] == bidder(1) and report["price"] == 300 and report["winners"] == [report["winner"]]
    assert report["elapsed_s"] > 0 and report["preprocess_s"] > 0 and report["bytes_sent_per_party"] > 0
    keys_file = tmp_path / "report.committee.json"
    unpinned = cli("sealed", "verify", str(out))
    assert unpinned.returncode == 1 and "not pinned" in unpinned.stdout
    assert cli("sealed", "verify", str(out), "--committee-keys", str(keys_file)).returncode == 0
    transcript = json.loads((tmp_path / report["transcript"].split("/")[-1]).read_text())
    keys = json.loads(keys_file.read_text())
    assert verify(transcript, keys) == []

    # Re-signed with price = 1 by keys of the forger's own, set as the transcript's committee.
    resigned = copy.deepcopy(transcript)
    resigned["outcome"]["price"] = 1
    forger_keys = [messages.new_key() for _ in resigned["statements"]]
    for st, k in zip(resigned["statements"], forger_keys):
        st["outcome"]["price"] = 1
        st["signer"] = messages.address(k)
        st["signature"] = messages.sign(messages.statement_digest(st), k)
    for m, k in zip(resigned["committee"]["members"], forger_keys):
        m["signer"] = messages.address(k)
    assert "the servers' signing keys are not the pinned committee's" in verify(resigned, keys)
    never_ran = copy.deepcopy(resigned)  # an auction id nobody opened, "signed" the same way
    never_ran["auction"] = "auction-never-ran"
    assert "the servers' signing keys are not the pinned committee's" in verify(never_ran, keys)
    aborted = {**copy.deepcopy(transcript), "status": "aborted", "reason": "lost server 2", "outcome": None}
    assert any("aborted" in p for p in verify(aborted, keys))

    cheaper = copy.deepcopy(transcript)
    cheaper["outcome"]["price"] = 1
    assert "the transcript's outcome is not the one the servers signed" in verify(cheaper, keys)
    forged = copy.deepcopy(transcript)
    forged["statements"][1]["outcome"]["price"] = 1
    assert any("bad signature" in p for p in verify(forged, keys))
    lying = copy.deepcopy(transcript)
    lying["openings"][0]["values"] = [299]
    assert any("does not match its commitment" in p for p in verify(lying, keys))


def test_bad_bids_file_is_one_line_error(tmp_path):
    proc = cli("sealed", "run", "--bids", str(bids_file(tmp_path, [5, 1 << 64])), "--mechanism", "first")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: bids[1].amount: must be below 2^64"


def test_replay_relay_matches_plaintext(tmp_path):
    out = tmp_path / "replay.json"
    relay = DATA / "relay" / "slot6214255_builder_blocks_received.json"
    proc = cli("sealed", "replay", str(relay), "--speed", "0", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    updates = assert_replay_matches_relay(report, relay)
    latency = report["update_latency_ms"]
    assert report["updates"] == updates and latency["p99"] >= latency["median"]


def test_sealed_builder_auction_equals_clear():
    rng = random.Random(21)
    bids = [("B1", 170), ("B2", 160), ("B3", 170), ("B2", 175), ("B4", 20)]
    cases = [(150, bids), (175, bids), (174, bids), (10, [("B1", 9)]), (rng.randrange(1 << 63), [])]
    cases.append((0, [(f"B{i}", rng.randrange(1 << 64)) for i in range(6)]))
    for reserve, b in cases:
        assert sealed_builder_auction(reserve, b) == second_price_with_reserve(reserve, b), (reserve, b)


def test_auction_sealed_gives_the_same_report(tmp_path):
    scenario = {
        "format": "mevauction.scenario/1", "world": {"kind": "table"}, "block_gas_limit": 30000000,
        "orders": [
            {"id": "o1", "gas": 100000, "reads": ["k1"], "writes": ["k1"], "txs": ["0xaa"],
             "bid": {"default": 40, "after": {"o2": 100}}},
            {"id": "o2", "gas": 100000, "reads": ["k1"], "writes": ["k1"], "txs": ["0xbb"],
             "bid": {"default": 50, "after": {"o1": 80}}},
            {"id": "o9", "reads": ["k9"], "writes": ["k9"], "txs": ["0xcc"], "bid": 7}],
        "builders": [{"id": "B1", "block": ["o2", "o1"], "bid": 170},
                     {"id": "B2", "block": ["o1"], "bid": 160}],
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario))
    clear = cli("auction", str(path), "--json", "-")
    sealed = cli("auction", str(path), "--sealed", "--json", "-")
    assert clear.returncode == 0 and sealed.returncode == 0, sealed.stderr
    assert json.loads(sealed.stdout) == json.loads(clear.stdout)
    assert json.loads(sealed.stdout)["winner"] == "B1"
