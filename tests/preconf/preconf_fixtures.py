"""Shared helpers for the preconf tests (imported by file name; no conftest needed)."""

from mevauction.preconf import nike
from mevauction.preconf.deposits import DepositLedger
from mevauction.preconf.keys import Signer
from mevauction.preconf.messages import Bid, SignedBid
from mevauction.preconf.params import AuctionParameters
from mevauction.preconf.policy import ReservePolicy
from mevauction.preconf.provider import Arrival, ProviderEngine

CHAIN_ID = 31337
CONTRACT = "0xA4AD4f68d0b91CFD19687c881e50f3A00242828c"
SLOT_MS = 12000
PROVIDER = Signer.from_label("bob")
ALICE = Signer.from_label("alice")
CAROL = Signer.from_label("carol")
PROVIDER_NIKE = 0x1234567


def block_time(number: int) -> int:
    return number * SLOT_MS


NO_DECAY = (10**12, 10**12 + 1)  # a decay window after every dispatch: residual 100 %


def make_bid(
    tx: str,
    amount: int,
    block: int = 2,
    start: int = NO_DECAY[0],
    end: int = NO_DECAY[1],
    signer: Signer = ALICE,
    slash: int = 0,
    reverting: str = "",
) -> SignedBid:
    _, pk = nike.keypair()
    bid = Bid(txn_hash=tx, bid_amt=amount, block_number=block, decay_start=start, decay_end=end,
              reverting_tx_hashes=reverting, slash_amt=slash, bidder_pk_x=pk[0], bidder_pk_y=pk[1])
    return SignedBid.sign(bid, signer, CHAIN_ID, CONTRACT)


def make_engine(schedule=((8000, 100_000), (4000, 200_000), (0, 300_000)), reserve=ReservePolicy("fixed", 1),
                reject_within_ms=1000, mode="periodic", rule="committed", deposit=10**18, later_price=0):
    params = AuctionParameters(PROVIDER.address, CHAIN_ID, CONTRACT, tuple(schedule), reserve, reject_within_ms, mode)
    ledger = DepositLedger()
    for who in (ALICE, CAROL):
        ledger.deposit(who.address, PROVIDER.address, deposit)
    engine = ProviderEngine(PROVIDER, PROVIDER_NIKE, params, ledger, block_time, rule=rule,
                            later_price_per_gas=later_price)
    return engine, params, ledger


def arrive(signed: SignedBid, gas: int, at: int, provider: str | None = None) -> Arrival:
    return Arrival(signed, provider or PROVIDER.address, gas, at)
