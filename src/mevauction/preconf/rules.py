"""mev-commit's input rules for a bid, applied before a provider signs anything about it.

From the bidder and provider APIs' validation rules (``bidderapi.proto``,
``providerapi.proto``): transaction hashes are 64 hex digits, amounts match
``^[1-9][0-9]*$``, block numbers and decay timestamps are positive, a bid names at least
one transaction; from the key exchange: the bidder's BN254 key is a point on the curve
(not the identity (0, 0)). Two rules are stricter than the regexes, because the
oracle matches hashes exactly as spelled against lower-case hex without ``0x``
(:mod:`mevauction.preconf.settlement`): a hash in upper case or with a prefix could
never be found in the block, so a provider committing to it would be slashed for a
transaction it included; such bids are refused. Block numbers are bounded by a horizon
ahead of the current block (a commitment for a block 100,000 ahead would tie up escrow
and capacity for two weeks).
"""

from __future__ import annotations

from mevauction.errors import require
from mevauction.preconf import bidoptions
from mevauction.preconf.messages import Bid, tx_hash_list
from mevauction.preconf.nike import on_curve

MAX_TXS = 64  # hashes per bid (the bidder node streams bundles, not blocks)
_LOWER_HEX = frozenset("0123456789abcdef")


def _hashes(joined: str, field: str, required: bool) -> list[str]:
    hashes = tx_hash_list(joined)
    require(bool(hashes) or not required, field, "names no transaction (mev-commit refuses an empty bid)")
    require(len(hashes) <= MAX_TXS, field, f"at most {MAX_TXS} transactions")
    for i, h in enumerate(hashes):
        require(len(h) == 64 and _LOWER_HEX.issuperset(h), f"{field}[{i}]",
                "must be 64 lower-case hex digits without 0x (the oracle matches hashes exactly as spelled)")
    return hashes


def check(bid: Bid, where: str, current_block: int, horizon: int) -> None:
    """Raise InputError naming the field for a bid mev-commit's nodes would refuse."""
    _hashes(bid.txn_hash, f"{where}.txnHash", True)
    _hashes(bid.reverting_tx_hashes, f"{where}.revertingTxHashes", False)
    require(bid.bid_amt >= 1, f"{where}.bidAmt", "must match ^[1-9][0-9]*$ (at least 1 wei)")
    require(bid.block_number > 0, f"{where}.blockNumber", "must be positive")
    require(bid.block_number <= current_block + horizon, f"{where}.blockNumber",
            f"block {bid.block_number} is more than {horizon} blocks ahead of block {current_block}")
    require(bid.decay_start > 0, f"{where}.decayStartTimeStamp", "must be positive")
    require(bid.decay_end > 0, f"{where}.decayEndTimeStamp", "must be positive")
    key = (bid.bidder_pk_x, bid.bidder_pk_y)
    require(key != (0, 0) and on_curve(*key), f"{where}.bidderPKx",
            "bidder key (bidderPKx, bidderPKy) must be a BN254 point other than (0, 0)")
    bidoptions.decode(bid.bid_options, f"{where}.bidOptions")
