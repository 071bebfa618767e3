"""The service's tables, once, as SQLAlchemy Core ``Table`` objects with named columns.

This is the schema the migrations (:mod:`mevauction.service.migrations`) produce: the
migrations are the frozen history of how a database got here, this module is where
it is now, and every query (:mod:`mevauction.service.dao`) is built from it. A test
checks that a migrated database has exactly these tables, columns and indexes, so a
new migration and this module cannot drift apart.

Amounts in wei are decimal TEXT (they exceed 64 bits); ``value_sort`` is the same
amount zero-padded to 80 digits, for ordering by value.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, nullable=False),
)

meta = Table(
    "meta", metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

# An order is the signer's (slot, signer, id); ``scenario_id`` is its id in the slot's
# scenario document, which needs ids unique per slot: the signer's id, unless another
# signer's order in the slot has it (then a derived one, see slotstate.scenario_id_for).
orders = Table(
    "orders", metadata,
    Column("slot", BigInteger, primary_key=True),
    Column("scenario_id", Text, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("signer", Text, nullable=False),
    Column("replacement_uuid", Text),
    Column("params", Text, nullable=False),
    Column("scenario_order", Text, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("payment", Text),
    Column("refund", Text),
    Column("note", Text),
    Column("id", Text, nullable=False),
    Index("orders_by_id", "id"),
    Index("orders_by_uuid", "signer", "replacement_uuid"),
    Index("orders_by_signer_id", "slot", "signer", "id", unique=True),
)

builder_bids = Table(
    "builder_bids", metadata,
    Column("slot", BigInteger, primary_key=True),
    Column("builder", Text, primary_key=True),
    Column("submission", Text, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("commitment", Text),
)

# A registered builder's submitted algorithm (service/algorithms.py): ``code`` is base64;
# a version runs from ``from_slot`` (the slot after the one open when it was accepted).
algorithms = Table(
    "algorithms", metadata,
    Column("builder", Text, primary_key=True),
    Column("version", BigInteger, primary_key=True),
    Column("runtime", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("from_slot", BigInteger, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
)

slots = Table(
    "slots", metadata,
    Column("slot", BigInteger, primary_key=True),
    Column("world", Text, nullable=False),
    Column("report", Text, nullable=False),
    Column("settled_ms", BigInteger, nullable=False),
    Column("block_hash", Text, nullable=False),
    Column("parent_hash", Text, nullable=False),
    Column("winner", Text, nullable=False),
    Column("builder_pubkey", Text, nullable=False),
    Column("proposer_pubkey", Text, nullable=False),
    Column("fee_recipient", Text, nullable=False),
    Column("gas_limit", BigInteger, nullable=False),
    Column("gas_used", BigInteger, nullable=False),
    Column("num_tx", BigInteger, nullable=False),
    Column("value", Text, nullable=False),
    Column("value_sort", Text, nullable=False),
    Column("refunds", Text, nullable=False),
    Index("slots_by_builder", "builder_pubkey"),
    Index("slots_by_block_hash", "block_hash"),
)

builder_blocks = Table(
    "builder_blocks", metadata,
    Column("slot", BigInteger, primary_key=True),
    Column("builder", Text, primary_key=True),
    Column("block_hash", Text, nullable=False),
    Column("builder_pubkey", Text, nullable=False),
    Column("valid", Integer, nullable=False),
    Column("gas_used", BigInteger, nullable=False),
    Column("num_tx", BigInteger, nullable=False),
    Column("value", Text),  # NULL: a losing bid, never published (nor kept here)
    Column("value_sort", Text),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("commitment", Text),
    Index("builder_blocks_by_hash", "block_hash"),
    Index("builder_blocks_by_builder", "builder_pubkey"),
)

settlements = Table(
    "settlements", metadata,
    Column("slot", BigInteger, nullable=False),
    Column("party", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("paid", Text, nullable=False),
    Column("received", Text, nullable=False),
    PrimaryKeyConstraint("slot", "role", "party"),
)

builders = Table(
    "builders", metadata,
    Column("address", Text, primary_key=True),
    Column("deposit", Text, nullable=False),
)

builder_ledger = Table(
    "builder_ledger", metadata,
    Column("slot", BigInteger, nullable=False),
    Column("builder", Text, nullable=False),
    Column("entry", Text, nullable=False),
    Column("amount", Text, nullable=False),
    PrimaryKeyConstraint("slot", "builder", "entry"),
    Index("builder_ledger_by_builder", "builder"),
)

preconf_bids = Table(
    "preconf_bids", metadata,
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("digest", Text, primary_key=True),
    Column("signature", Text, primary_key=True),
    Column("bidder", Text, nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("signed_bid", Text, nullable=False),
)

preconf_messages = Table(
    "preconf_messages", metadata,
    Column("digest", Text, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("bid_key", Text),
    Column("stored_ms", BigInteger),
)

preconf_outcomes = Table(
    "preconf_outcomes", metadata,
    Column("block_number", BigInteger, primary_key=True),
    Column("bid_key", Text, primary_key=True),
    Column("commitment_digest", Text, nullable=False),
    Column("bidder", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("settlement", Text, nullable=False),
    Column("settled_ms", BigInteger, nullable=False),
)

preconf_ledger = Table(
    "preconf_ledger", metadata,
    Column("block_number", BigInteger, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("commitment_digest", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("dest", Text, nullable=False),
    Column("amount", Text, nullable=False),
    Column("kind", Text, nullable=False),
)

# Without a chain: a slot's delivered block (its transaction hashes in order as JSON; NULL:
# the slot failed, nothing was delivered) whose commitments are not settled yet. Written in
# the transaction of the slot's report, deleted in the one of its settlement.
preconf_delivered = Table(
    "preconf_delivered", metadata,
    Column("block_number", BigInteger, primary_key=True),
    Column("block_txs", Text),
    Column("stored_ms", BigInteger, nullable=False),
)

# A slot's block on a chain (serve --chain): planned in the transaction that stores the
# slot's report, before anything is sent to the node; ``status`` planned → mined
# (or mismatch, failed, reorged).
deliveries = Table(
    "deliveries", metadata,
    Column("slot", BigInteger, primary_key=True),
    Column("block_number", BigInteger, nullable=False),
    Column("coinbase", Text, nullable=False),
    Column("plan", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("block_hash", Text),
    Column("reason", Text),
    Column("verification", Text),
    Column("updated_ms", BigInteger, nullable=False),
    Index("deliveries_by_hash", "block_hash"),
)

chain_failures = Table(
    "chain_failures", metadata,
    Column("slot", BigInteger, primary_key=True),
    Column("at_ms", BigInteger, primary_key=True),
    Column("reason", Text, nullable=False),
)
