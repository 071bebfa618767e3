"""The keys that sign sealed-algorithm headers (issue 13): derived from a persistent
service secret beside the database, so a slot's header label — and so the bid the
committee takes under it — is the same service's after a restart; a different service
(another secret) cannot produce it, and no two builders or slots share a label."""

from __future__ import annotations

import os
import stat

from mevauction.privacy import messages
from mevauction.privacy.builder_auction import SealedSlot
from mevauction.sandbox.jail import Program
from mevauction.service.algorithms import PROGRAM_KEY, SlotPrograms, sealing
from mevauction.service.committee import ServiceCommittee
from mevauction.service.metrics import Metrics

SCENARIO = {"builders": [{"id": b, PROGRAM_KEY: "python:1:x", "deposit": "10"} for b in ("alice", "bob")]}
PROGRAMS = SlotPrograms(1000, {b: Program("python", b"def build(s, sim): return [], 0", b) for b in ("alice", "bob")})


def labels(committee: ServiceCommittee, slot: int) -> dict[str, str]:
    sealed = SealedSlot(None, committee.auction_id(slot), ["m1", "m2", "m3"],  # type: ignore[arg-type]
                        seal_secret=committee.seal_secret())
    return {b: s.context["label"] for b, s in sealing(sealed, SCENARIO, PROGRAMS).items()}


def test_header_label_survives_restart_and_is_the_services_own(tmp_path):
    key_dir = str(tmp_path / "db.sqlite.committee")
    first = labels(ServiceCommittee(3, Metrics(), "svc", key_dir=key_dir), 7)
    secret_file = tmp_path / "db.sqlite.committee" / "algorithm-seal.secret"
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    restarted = labels(ServiceCommittee(3, Metrics(), "svc", key_dir=key_dir), 7)
    print("labels before/after restart:", first, restarted)
    assert first == restarted  # the same keys after a restart
    assert len(set(first.values())) == 2  # no two builders share a label
    assert labels(ServiceCommittee(3, Metrics(), "svc", key_dir=key_dir), 8)["alice"] != first["alice"]
    other = labels(ServiceCommittee(3, Metrics(), "svc", key_dir=str(tmp_path / "other")), 7)
    assert set(other.values()).isdisjoint(first.values())  # another service's secret: other keys


def test_header_signed_before_restart_verifies_after(tmp_path):
    from mevauction.service.algorithms import seal_key

    key_dir = str(tmp_path / "c")
    svc = ServiceCommittee(3, Metrics(), "svc", key_dir=key_dir)
    key = seal_key(svc.seal_secret(), svc.auction_id(3), "alice")
    label = messages.address(key)
    header = messages.BidHeader(svc.auction_id(3), label, label, "builder", "0x" + "11" * 32, ("0x" + "22" * 32,))
    header = header.signed(key)
    again = ServiceCommittee(3, Metrics(), "svc", key_dir=key_dir)
    assert labels(again, 3)["alice"] == header.signer  # the restarted service names the same signer
    assert header.signature_valid()
