"""Preconfirmations in the slot's block (issue 14 items 1–2): the two calls the
auctioneer makes.

At the deadline, :func:`with_commitments` adds the slot's committed bundles to its
scenario — each commitment whose bid carried ``rawTransactions`` becomes an order
``preconf:<digest>`` and a ``commitments`` entry (mechanism/commitments.py: gas
reserved, placed at the top, or at the bottom when its ``bidOptions`` anchor it there;
every candidate block must keep it). A hash-only commitment (mev-commit's ``txHashes``
without ``rawTransactions``) is matched, by the exact hash as the oracle compares them,
against the transactions the service holds at the deadline: public ones
(``eth_sendRawTransaction``, kept by the desk) and those the slot's orders carry; matched in
full, it is forced into the block like a raw one. One whose transactions the service still
does not hold cannot be included: it stays out and settlement slashes it (the oracle's rule;
docs/preconf.md says why that is kept).

Without a chain the delivered block is the slot's final block as reported: its transaction
hashes are stored with the report (``dao.owe_preconf_settlement``, same transaction), and
:func:`settle_owed` settles it at once by the same rule (every transaction counted as
succeeded: the table world executes nothing) and again at every turn of the slot clock
until the settlement is written — so a service killed between the two settles it after
its restart, once. A slot that failed delivered no block, so its commitments are void
(escrow released, no slash), as the oracle treats a block this provider did not build.

After a block is mined (or found mined after a restart), :func:`settle_mined` settles its
commitments by mev-commit's oracle rule (``PreconfDesk.settle_block``) with the mined
block's transaction hashes in order and each receipt's status and gas; settling is
idempotent, so every turn simply settles each recent mined block not settled yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mevauction.chain.rpc import RpcClient
from mevauction.errors import InputError
from mevauction.eth import fields
from mevauction.eth.keccak import keccak
from mevauction.eth.transactions import MAX_TX_BYTES, decode
from mevauction.mechanism.commitments import ANCHOR_BOTTOM, NAMES
from mevauction.preconf import bidoptions, capacity
from mevauction.service import dao, deliveries
from mevauction.service.intake import LABEL
from mevauction.service.onchain import REORG_WINDOW, ChainLink
from mevauction.service.store import Db, Store
from mevauction.worlds.orders import DEFAULT_GAS

if TYPE_CHECKING:  # the desk imports the engine, which calls this module
    from mevauction.service.preconf import PreconfDesk

log = logging.getLogger("mevauction.service")

PREFIX = "preconf:"


def _placement(bid: dict) -> dict[str, Any]:
    """Where the bid's position constraints put its bundle: the first one's anchor, and
    every constraint the oracle can meet (a known basis, a value ≥ 0) as the basis and
    value the block is planned and checked by — the first as ``position``/``basis``, the
    rest as ``more_positions``. One the oracle can never meet plans nothing: settlement
    slashes it whatever the block."""
    raw = bytes.fromhex(str(bid.get("bidOptions", "0x"))[2:] or "")
    positions = [o for o in bidoptions.decode(raw) if isinstance(o, bidoptions.PositionConstraint)]
    if not positions:
        return {"anchor": "top", "position": None}
    anchor = "bottom" if positions[0].anchor == ANCHOR_BOTTOM else "top"
    planned = [{"anchor": "bottom" if o.anchor == ANCHOR_BOTTOM else "top", "position": o.value,
                "basis": NAMES[o.basis]} for o in positions if o.basis in NAMES and o.value >= 0]
    if not planned:
        return {"anchor": anchor, "position": None}
    first, *more = planned
    return {"anchor": anchor, "position": first["position"], "basis": first["basis"],
            **({"more_positions": more} if more else {})}


def held_transactions(orders: list[dict], public: Mapping[str, str] | None = None) -> dict[str, str]:
    """hash → raw hex of every signed transaction the service holds for the slot: the public
    ones and those its orders carry (evm world: ``raw_txs`` or ``bundle.txs``)."""
    held = dict(public or {})
    for order in orders:
        bundle = order.get("bundle")
        for raw in (bundle.get("txs") if isinstance(bundle, dict) else order.get("raw_txs")) or []:
            try:
                held.setdefault(decode(fields.data(raw, "raw_txs", max_length=MAX_TX_BYTES), "raw_txs").hash, raw)
            except InputError:  # the world's parser judges it; it simply matches nothing here
                continue
    return held


def _raws(bid: dict, held: Mapping[str, str]) -> list[str]:
    """The bid's raw transactions, or for a hash-only bid the held transactions its hashes
    name exactly (all of them, or none: a bundle is committed whole)."""
    raws = bid.get("rawTransactions") or []
    if raws:
        return list(raws)
    found = [held.get("0x" + h) for h in str(bid.get("txnHash", "")).split(",") if h]
    return [r for r in found if r is not None] if found and None not in found else []


def committed_bundles(messages: list[dict], world: dict, taken_ids: frozenset[str] = frozenset(),
                      held: Mapping[str, str] | None = None) -> tuple[list[dict], list[dict]]:
    """(scenario orders, scenario ``commitments``) of a slot's signed commitments, in the
    order they were signed. A later commitment naming a transaction an earlier one holds
    adds nothing to the block (the oracle finds the transaction for both). Ids already
    in the slot (``taken_ids``) are never reused: an order a searcher named like a
    commitment must not share its id (the pair would be refused together)."""
    used = set(taken_ids)
    orders: list[dict] = []
    entries: list[dict] = []
    taken: set[str] = set()
    for m in messages:
        bid = m["bid"]
        raws = _raws(bid, held or {})
        if not raws:
            continue
        txs = [decode(fields.data(r, "rawTransactions", max_length=MAX_TX_BYTES), "rawTransactions") for r in raws]
        hashes = [t.hash for t in txs]
        if taken & set(hashes):
            continue
        taken |= set(hashes)
        oid = base = PREFIX + m["commitmentDigest"][:16]
        n = 1
        while oid in used:
            n += 1
            oid = f"{base}~{n}"
        used.add(oid)
        order: dict[str, Any] = {"id": oid, "txs": hashes}
        if world.get("kind") == "table":  # the table world's static valuation of a bundle
            accounts = sorted({f"account:{t.sender}" for t in txs} | {f"account:{t.to}" for t in txs if t.to})
            order.update(reads=accounts, writes=accounts, bid={"default": 0},
                         gas=sum(t.gas_limit for t in txs))
        else:
            order["raw_txs"] = list(raws)
            reverting = [h for h in str(bid.get("revertingTxHashes", "")).split(",") if h]
            if reverting:
                order["revertingTxHashes"] = ["0x" + h for h in reverting]
        orders.append(order)
        entries.append({"order": oid, **_placement(bid), "commitment": m["commitmentDigest"]})
    return orders, entries


def in_layout_order(messages: list[dict], gas_limit: int) -> list[dict]:
    """The block's commitments in the order the capacity check judged them
    (:func:`mevauction.preconf.capacity.layout_order`): position asks where the exact
    arrangement put them, each judged on the engine's gas estimate as when it was decided."""
    if not any(m["bid"].get("bidOptions", "0x") not in ("", "0x") for m in messages):
        return messages
    described = []
    for m in messages:
        hashes, raw = str(m["bid"].get("txnHash", "")), bytes.fromhex(str(m["bid"].get("bidOptions", "0x"))[2:])
        txs = max(1, len([h for h in hashes.split(",") if h]))
        described.append((capacity.ask_of(raw, hashes, capacity.GAS_PER_TX * txs), txs, capacity.GAS_PER_TX * txs))
    return [messages[k] for k in capacity.layout_order(described, gas_limit)]


def with_commitments(scenario: dict, messages: list[dict], public: Mapping[str, str] | None = None,
                     gas_limit: int = 30_000_000) -> dict:
    """The slot's scenario with its committed bundles as constraints (none: unchanged);
    ``public``: the public transactions the service holds (hash → raw hex); ``gas_limit``:
    the block's, which the capacity check judged position asks by."""
    messages = in_layout_order(messages, gas_limit)
    # Only a hash-only commitment needs the held transactions: decoding every order's
    # transactions (sender recovery) at each deadline is not free.
    hash_only = any(not m["bid"].get("rawTransactions") for m in messages)
    orders, entries = committed_bundles(messages, scenario["world"],
                                        frozenset(o["id"] for o in scenario["orders"]),
                                        held_transactions(scenario["orders"], public) if hash_only else None)
    if not entries:
        return scenario
    return {**scenario, "orders": [*scenario["orders"], *orders], "commitments": entries}


def mined_txs(rpc: RpcClient, number: int) -> tuple[dict, list[dict]] | None:
    """The block and its transactions in order with each receipt's status and gas (None: no block)."""
    block = rpc.block(number)
    if block is None:
        return None
    hashes = list(block.get("transactions") or [])
    receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes]) if hashes else []
    return block, [{"hash": h, "succeeded": int(r["status"], 16) == 1, "gasUsed": str(int(r["gasUsed"], 16))}
                   for h, r in zip(hashes, receipts, strict=True)]


async def settle_mined(link: ChainLink, store: Store, desk: PreconfDesk) -> list[int]:
    """Settle every recent mined block not settled yet (oldest first), and settle again
    one reorganised away (``reorged``) against the block now canonical at its number: a
    block this service did not deliver (another coinbase) binds none of its commitments
    (void, as the oracle treats a block another builder won). The numbers settled."""
    recent = await store.read(lambda db: deliveries.recent(db, REORG_WINDOW))
    done = []
    for record in sorted(recent, key=lambda r: r.block_number):
        number = record.block_number
        if record.status == deliveries.REORGED:
            if number not in desk.settled or number not in desk.settled_hash:
                continue
        elif record.status not in (deliveries.MINED, deliveries.MISMATCH) or number in desk.settled:
            continue
        found = await asyncio.to_thread(mined_txs, link.client, number)
        if found is None:
            continue
        block, txs = found
        if record.status == deliveries.REORGED and desk.settled_hash.get(number) == block["hash"]:
            continue
        ours = str(block.get("miner", "")).lower() == record.coinbase.lower()
        await desk.settle_block(number, txs, None if ours else NO_BLOCK, block["hash"])
        done.append(number)
    return done


NO_BLOCK = "0x" + "00" * 20  # the winner of a block this service did not deliver: none of its commitments binds


def block_hashes(scenario: dict, report: dict) -> list[dict]:
    """The final block's transactions in order (each order's ``txs``), as delivered without
    a chain: every one succeeded, and an order's declared gas is its first transaction's
    (the rest 0), so a gas-percentile constraint is judged at settlement on the gas the
    auction planned the block by (mechanism/commitments.py ``position_problem``)."""
    orders = {o["id"]: o for o in scenario["orders"]}
    out = []
    for oid in report.get("block") or []:
        order = orders.get(oid, {})
        for i, h in enumerate(order.get("txs") or []):
            out.append({"hash": h if not str(h).startswith(LABEL) else label_hash(h), "succeeded": True,
                        "gasUsed": str(order.get("gas", DEFAULT_GAS) if i == 0 else 0)})
    return out


def label_hash(label: str) -> str:
    """A table/amm transaction label (``label:…``, never a 0x hash) as the delivered block
    lists it: it counts for every position, and no committed hash is it — a committed hash
    is the keccak of a signed transaction, this the keccak of the label."""
    return "0x" + keccak(label.encode()).hex()


def reported_block(db: Db, number: int) -> list[dict] | None:
    """The block a stored slot report delivered without a chain, made again from what is
    stored (the slot's orders, its commitments' bids) as :func:`block_hashes` made it
    (None: the slot failed, no block). A hash-only commitment's transactions are found
    among the slot's orders; one matched to a public transaction (memory only) counts at
    the default gas."""
    report = dao.slot_report(db, number)
    if report is None or report.get("failed") or "error" in report:
        return None
    orders = [o.scenario_order for o in dao.slot_orders(db, number)]
    messages = [m.message for bid in dao.preconf_bids_in_order_for_block(db, number)
                for m in dao.preconf_messages_about(db, bid.digest)
                if m.kind == "commitment" and m.bid_key in (None, bid.digest + bid.signature)]
    held = held_transactions(orders)
    committed, _ = committed_bundles(messages, dao.slot_world(db, number) or {}, frozenset(o["id"] for o in orders),
                                     held)
    made = {o["id"] for o in committed}
    unmatched = [{"id": oid, "txs": ["0x" + h for h in m["bid"]["txnHash"].split(",")]} for m in messages
                 if (oid := PREFIX + m["commitmentDigest"][:16]) not in made and not m["bid"].get("rawTransactions")]
    return block_hashes({"orders": [*orders, *committed, *unmatched]}, report)


def recover(db: Db, desk: PreconfDesk, last_settled: int | None, alive: Iterable[int], now: int,
            chain: bool = False) -> list[int]:
    """At start, the blocks whose commitments nothing would settle. Without a chain, one
    reported but owing nothing (a database from before migration 9, killed between the
    report and the settlement) owes its reported block now; on a chain a reported block
    with no delivery (its slot failed: another block took the number) delivered nothing.
    One never reported whose slot will not run again (no orders restored for it, and
    already passed by a settled slot or out of the desk's memory) is given up. Both are
    void (:func:`settle_abandoned`). The numbers owed."""
    owed = []
    running = set(alive)
    for number in dao.preconf_blocks_unsettled(db):
        if chain and deliveries.of_slot(db, number) is not None:
            continue  # mined or still being delivered: settle_mined settles it
        if dao.slot_report(db, number) is not None:
            if chain:
                desk.abandoned.add(number)
                continue
            dao.owe_preconf_settlement(db, number, reported_block(db, number), now)
            owed.append(number)
        elif number not in running and desk.block_time_ms(number) <= now and \
                ((last_settled is not None and number <= last_settled) or number not in desk.by_block):
            desk.abandoned.add(number)
    return owed


async def settle_abandoned(desk: PreconfDesk) -> list[int]:
    """Settle the commitments of every block the service gave up (its slot's records could
    not be written, or another block took its number): no block of this provider's was
    delivered, so each is void as the oracle leaves a commitment whose committer did not
    win the block — its escrow released, no slash. Retried each turn until written."""
    done = []
    for number in sorted(desk.abandoned):
        try:
            await desk.settle_block(number, [], NO_BLOCK)
        except Exception as exc:  # the storage refused it: nothing half-written; next turn
            log.error("preconfirmation settlement of given-up block %d failed, retried next turn: %s: %s",
                      number, type(exc).__name__, exc)
            continue
        desk.abandoned.discard(number)
        done.append(number)
    return done


async def settle_owed(store: Store, desk: PreconfDesk) -> list[int]:
    """Settle every block delivered without a chain whose settlement is still owed (oldest
    first): the slot's just now, or one whose service was killed between the report and
    the settlement. Each is settled against the block as stored with the report (None:
    the slot failed, nothing was delivered, so its commitments are void); the settlement's
    write clears what was owed, so each is settled exactly once. The numbers settled; a
    storage failure is logged and the rest wait for the next turn."""
    done = []
    try:
        for number, block_txs in await store.read(dao.preconf_settlements_owed):
            await desk.settle_block(number, block_txs or [], None if block_txs is not None else NO_BLOCK)
            done.append(number)
    except Exception as exc:  # the storage refused a read or write: nothing was half-written (one transaction)
        log.error("preconfirmation settlement failed, retried next turn: %s: %s", type(exc).__name__, exc)
    return done
