"""The service's two-party backend (``serve --sealed --backend 2pc``): the garbler and the
evaluator instead of the three-server committee.

By default the service starts a local pair (two processes, ``privacy.twoparty.local``)
with fresh TLS identities and the parties' signing and encryption keys in a directory
beside the database (``<db>.pair``, which the service never reads but for the public
keys), and pins those keys at the first start. With ``--parties-file`` it runs on a
running pair (``mevauction sealed party serve`` on other hosts; the file is a
``mevauction.2pc-parties/1`` document whose ``tls_dir`` holds the auctioneer's identity).

The same life cycle as the committee (``service/committee.py``: the rule for a slot whose
auction fails is there, in ``sealed_report``): a party found dead, or an auction that fails
(a party killed, stopped — every wait is bounded by ``relay.TIMEOUT_S`` — or aborting), gets
the pair restarted once and the auction retried; a running pair from a parties file is
re-checked instead (its operator restarts it). A second failure settles the slot to an
error report; never a clear fall-back.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mevauction.errors import host_port
from mevauction.service.committee import CommitteeFailure, ServiceCommittee
from mevauction.service.metrics import Metrics

if TYPE_CHECKING:  # the MPC extra is imported only when a pair starts
    from mevauction.privacy.twoparty.local import LocalPair
    from mevauction.privacy.twoparty.relay import PairSlot

log = logging.getLogger("mevauction.service")


class ServicePair(ServiceCommittee):
    """Owns the local pair (or the links to a remote one): start, health, restart, stop."""

    backend = "2pc"

    def __init__(self, metrics: Metrics, identity: str = "mevauction", key_dir: str | None = None,
                 parties_file: str = "") -> None:
        super().__init__(2, metrics, identity, key_dir)
        self.pair: LocalPair | None = None
        self.remote: dict[str, Any] | None = None
        if parties_file:
            from mevauction.privacy.twoparty.local import PARTIES_FORMAT

            doc = json.loads(Path(parties_file).read_text())
            if not isinstance(doc, dict) or doc.get("format") != PARTIES_FORMAT:
                raise ValueError(f"parties_file: expected a {PARTIES_FORMAT} document")
            self.remote = {"tls_dir": str(doc["tls_dir"]),
                           "control": [host_port(doc.get(n), f"parties_file.{n}") for n in ("garbler", "evaluator")]}
        self.signers: list[str] = []

    def _where(self) -> tuple[str, list[tuple[str, int]]]:
        if self.remote is not None:
            return self.remote["tls_dir"], self.remote["control"]
        if self.pair is None:
            raise CommitteeFailure("the pair is not running")
        return self.pair.tls_dir, self.pair.control

    def start(self) -> None:
        from mevauction.privacy.twoparty import relay
        from mevauction.privacy.twoparty.local import LocalPair

        if self.remote is None:
            Path(self.key_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
            self.pair = LocalPair(timeout=relay.TIMEOUT_S, key_dir=self.key_dir, hold=False).__enter__()
        tls_dir, control = self._where()
        try:
            chans = relay.connect(relay.PairSlot(tls_dir, control, "", [], []))
            try:
                described = relay.info(chans)
            finally:
                for c in chans:
                    c.close()
        except BaseException:
            self._halt()
            raise
        keys = [str(d["encryption_key"]) for d in described]
        signers = [str(d["signer"]) for d in described]
        if self.members and (keys, signers) != (self.members, self.signers):
            self._halt()
            raise RuntimeError("the restarted pair's keys are not the pinned ones")
        self.members, self.signers = keys, signers
        self.metrics.set("mevauction_committee_up", 1, help="Whether the sealed-bid committee is running")
        log.info("sealed-bid pair up (garbler and evaluator, %s, TLS, keys pinned)",
                 "remote" if self.remote else "local")

    def info(self, slot: int) -> dict[str, Any]:
        """What a builder needs to seal its bid for ``slot`` (``mev_getCommittee``)."""
        from mevauction.privacy.builder_auction import BUILDER_BITS

        return {"slot": hex(slot), "auction": self.auction_id(slot), "backend": self.backend, "parties": 2,
                "bits": BUILDER_BITS, "members": list(self.members), "signers": list(self.signers)}

    def sealed_slot(self, slot: int, bids: dict[str, dict[str, Any]],
                    caps: dict[str, int] | None = None) -> PairSlot:
        from mevauction.privacy.twoparty.relay import PairSlot

        tls_dir, control = self._where()
        return PairSlot(tls_dir, control, self.auction_id(slot), list(self.members), list(self.signers), bids,
                        dict(caps or {}), self.seal_secret())

    def alive(self) -> bool:
        if self.remote is not None:
            return True  # checked by each auction; a failure re-checks it (``restart``)
        return bool(self.pair and self.pair.procs and all(p.poll() is None for p in self.pair.procs))

    def _halt(self) -> None:
        pair, self.pair = self.pair, None
        if pair is not None:
            pair.stop()

    async def restart(self) -> None:
        import asyncio

        self.restarts += 1
        self.metrics.inc("mevauction_committee_restarts_total", help="Restarts of the sealed-bid committee")
        self.metrics.set("mevauction_committee_up", 0, help="Whether the sealed-bid committee is running")
        await asyncio.to_thread(self._halt)
        try:
            await asyncio.to_thread(self.start)
        except (RuntimeError, OSError, ValueError) as exc:
            raise CommitteeFailure(f"restart failed: {exc}") from None

    async def stop(self) -> None:
        import asyncio

        await asyncio.to_thread(self._halt)
        self.metrics.set("mevauction_committee_up", 0, help="Whether the sealed-bid committee is running")
        if self._temp_keys is not None:
            self._temp_keys.cleanup()
