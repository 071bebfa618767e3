"""Bidders submit straight to the committee (`sealed open|bid|close`): no plaintext bids
file, no coordinator holding an amount; the transcript verifies against the key set."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("mpyc")

from mevauction.privacy.client import SRC_DIR, LocalCommittee

pytestmark = pytest.mark.slow  # a live committee and CLI processes


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC_DIR}
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_bidders_submit_directly_and_the_transcript_verifies(tmp_path):
    with LocalCommittee(3) as committee:
        servers = ",".join(f"{h}:{p}" for h, p in committee.intake)
        tls = ["--tls-dir", committee._tls_dir.name]
        control = tmp_path / "control.key"
        control.write_text("0x" + committee.control_key.hex())
        spec = tmp_path / "spec.json"
        opened = cli("sealed", "open", "--committee", servers, *tls, "--control-key-file", str(control),
                     "--mechanism", "second", "--max-bids", "3", "--spec", str(spec))
        assert opened.returncode == 0, opened.stderr
        auction = opened.stdout.strip()
        for name, amount in (("alice", 300), ("bob", 700), ("carol", 500)):
            bid = cli("sealed", "bid", "--committee", servers, *tls, "--auction", auction, "--amount", str(amount),
                      "--bidder", name, "--opening", str(tmp_path / f"{name}.opening.json"))
            assert bid.returncode == 0, bid.stdout + bid.stderr
            assert "receipts checked" in bid.stdout
        out = tmp_path / "report.json"
        closed = cli("sealed", "close", "--committee", servers, *tls, "--control-key-file", str(control),
                     "--spec", str(spec), "--openings", str(tmp_path / "bob.opening.json"), "--json", str(out))
        assert closed.returncode == 0, closed.stdout + closed.stderr
        report = json.loads(out.read_text())
        assert (report["winner"], report["price"], report["n_bids"]) == ("bob", 500, 3)
        keys = tmp_path / "committee.json"
        keys.write_text(json.dumps(committee.key_set()))
        checked = cli("sealed", "verify", str(out), "--committee-keys", str(keys))
        assert checked.returncode == 0, checked.stdout
