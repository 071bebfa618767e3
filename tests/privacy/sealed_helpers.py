"""Shared helpers for the sealed-committee tests: a real 3-server committee on 127.0.0.1."""

import asyncio

from mevauction.privacy.client import LocalCommittee, SealedBid, run_on


def run(committee: LocalCommittee, mechanism: str, bids: list[SealedBid], **kw):
    return asyncio.run(run_on(committee.intake, mechanism, bids, **kw))


def labels(n: int) -> list[str]:
    return [f"bidder{i:03d}" for i in range(n)]
