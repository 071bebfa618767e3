"""Versioned schema migrations.

The database records the highest applied version in ``schema_version``; on start,
every later migration runs in order, each in its own transaction. A migration is
never edited once released: changes are new entries at the end of ``MIGRATIONS``.
Statements are portable SQL (SQLite ≥ 3.25 and PostgreSQL ≥ 12). Amounts are stored
as decimal TEXT (wei exceeds 64 bits) with a zero-padded twin where they are sorted.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "orders, builder bids, slots and settlement records", [
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
        """CREATE TABLE orders (
            slot BIGINT NOT NULL,
            id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            kind TEXT NOT NULL,
            signer TEXT NOT NULL,
            replacement_uuid TEXT,
            params TEXT NOT NULL,
            scenario_order TEXT NOT NULL,
            received_ms BIGINT NOT NULL,
            status TEXT NOT NULL,
            payment TEXT,
            refund TEXT,
            note TEXT,
            PRIMARY KEY (slot, id))""",
        """CREATE INDEX orders_by_id ON orders (id)""",
        """CREATE INDEX orders_by_uuid ON orders (signer, replacement_uuid)""",
        """CREATE TABLE builder_bids (
            slot BIGINT NOT NULL,
            builder TEXT NOT NULL,
            submission TEXT NOT NULL,
            received_ms BIGINT NOT NULL,
            PRIMARY KEY (slot, builder))""",
        """CREATE TABLE slots (
            slot BIGINT PRIMARY KEY,
            world TEXT NOT NULL,
            report TEXT NOT NULL,
            settled_ms BIGINT NOT NULL,
            block_hash TEXT NOT NULL,
            parent_hash TEXT NOT NULL,
            winner TEXT NOT NULL,
            builder_pubkey TEXT NOT NULL,
            proposer_pubkey TEXT NOT NULL,
            fee_recipient TEXT NOT NULL,
            gas_limit BIGINT NOT NULL,
            gas_used BIGINT NOT NULL,
            num_tx BIGINT NOT NULL,
            value TEXT NOT NULL,
            value_sort TEXT NOT NULL,
            refunds TEXT NOT NULL)""",
        """CREATE TABLE builder_blocks (
            slot BIGINT NOT NULL,
            builder TEXT NOT NULL,
            block_hash TEXT NOT NULL,
            builder_pubkey TEXT NOT NULL,
            valid INTEGER NOT NULL,
            gas_used BIGINT NOT NULL,
            num_tx BIGINT NOT NULL,
            value TEXT NOT NULL,
            value_sort TEXT NOT NULL,
            timestamp_ms BIGINT NOT NULL,
            PRIMARY KEY (slot, builder))""",
        """CREATE INDEX builder_blocks_by_hash ON builder_blocks (block_hash)""",
        """CREATE TABLE settlements (
            slot BIGINT NOT NULL,
            party TEXT NOT NULL,
            role TEXT NOT NULL,
            paid TEXT NOT NULL,
            received TEXT NOT NULL,
            PRIMARY KEY (slot, role, party))""",
    ]),
    (2, "look-ups of the relay data API by builder and by block hash", [
        """CREATE INDEX slots_by_builder ON slots (builder_pubkey)""",
        """CREATE INDEX slots_by_block_hash ON slots (block_hash)""",
        """CREATE INDEX builder_blocks_by_builder ON builder_blocks (builder_pubkey)""",
    ]),
    (3, "preconfirmation bids and the provider's signed commitments and rejects", [
        """CREATE TABLE preconf_bids (
            seq BIGINT NOT NULL UNIQUE,
            digest TEXT NOT NULL,
            signature TEXT NOT NULL,
            bidder TEXT NOT NULL,
            block_number BIGINT NOT NULL,
            received_ms BIGINT NOT NULL,
            signed_bid TEXT NOT NULL,
            PRIMARY KEY (digest, signature))""",
        """CREATE TABLE preconf_messages (
            digest TEXT NOT NULL,
            seq BIGINT NOT NULL,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (digest, seq))""",
    ]),
    (4, "builder registry and deposit ledger; bid commitments; losing bids no longer kept in builder_blocks", [
        """CREATE TABLE builders (
            address TEXT PRIMARY KEY,
            deposit TEXT NOT NULL)""",
        """CREATE TABLE builder_ledger (
            slot BIGINT NOT NULL,
            builder TEXT NOT NULL,
            entry TEXT NOT NULL,
            amount TEXT NOT NULL,
            PRIMARY KEY (slot, builder, entry))""",
        """CREATE INDEX builder_ledger_by_builder ON builder_ledger (builder)""",
        """ALTER TABLE builder_bids ADD COLUMN commitment TEXT""",
        # builder_blocks.value becomes nullable: rebuilt, and the losing bids it held are dropped.
        """ALTER TABLE builder_blocks RENAME TO builder_blocks_v3""",
        """DROP INDEX builder_blocks_by_hash""",
        """DROP INDEX builder_blocks_by_builder""",
        """CREATE TABLE builder_blocks (
            slot BIGINT NOT NULL,
            builder TEXT NOT NULL,
            block_hash TEXT NOT NULL,
            builder_pubkey TEXT NOT NULL,
            valid INTEGER NOT NULL,
            gas_used BIGINT NOT NULL,
            num_tx BIGINT NOT NULL,
            value TEXT,
            value_sort TEXT,
            timestamp_ms BIGINT NOT NULL,
            commitment TEXT,
            PRIMARY KEY (slot, builder))""",
        """INSERT INTO builder_blocks (slot, builder, block_hash, builder_pubkey, valid, gas_used, num_tx, value,
                                       value_sort, timestamp_ms, commitment)
           SELECT b.slot, b.builder, b.block_hash, b.builder_pubkey, b.valid, b.gas_used, b.num_tx,
                  CASE WHEN b.builder = 'default' OR b.builder = s.winner THEN b.value END,
                  CASE WHEN b.builder = 'default' OR b.builder = s.winner THEN b.value_sort END,
                  b.timestamp_ms, NULL
           FROM builder_blocks_v3 b LEFT JOIN slots s ON s.slot = b.slot""",
        """DROP TABLE builder_blocks_v3""",
        """CREATE INDEX builder_blocks_by_hash ON builder_blocks (block_hash)""",
        """CREATE INDEX builder_blocks_by_builder ON builder_blocks (builder_pubkey)""",
    ]),
    (5, "order ids scoped to their signer: (slot, signer, id) is unique, scenario_id names the order in "
        "the slot's scenario", [
        # The column that was the id is the scenario id (unique per slot, still the primary
        # key); the signer's own id is a new column, equal to it for every existing row.
        """ALTER TABLE orders RENAME COLUMN id TO scenario_id""",
        """ALTER TABLE orders ADD COLUMN id TEXT NOT NULL DEFAULT ''""",
        """UPDATE orders SET id = scenario_id""",
        """DROP INDEX orders_by_id""",
        """CREATE INDEX orders_by_id ON orders (id)""",
        """CREATE UNIQUE INDEX orders_by_signer_id ON orders (slot, signer, id)""",
    ]),
    # 6 is another change's; numbers are assigned, so 7 may land first.
    (6, "submitted builder algorithms: every accepted version, and the slot it takes effect from", [
        """CREATE TABLE algorithms (
            builder TEXT NOT NULL,
            version BIGINT NOT NULL,
            runtime TEXT NOT NULL,
            code TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            from_slot BIGINT NOT NULL,
            received_ms BIGINT NOT NULL,
            PRIMARY KEY (builder, version))""",
    ]),
    (7, "deliveries on a chain: the block planned and mined for a slot, its settlement transactions, "
        "the verification result; slots that could not reach the node", [
        """CREATE TABLE deliveries (
            slot BIGINT PRIMARY KEY,
            block_number BIGINT NOT NULL,
            coinbase TEXT NOT NULL,
            plan TEXT NOT NULL,
            status TEXT NOT NULL,
            block_hash TEXT,
            reason TEXT,
            verification TEXT,
            updated_ms BIGINT NOT NULL)""",
        """CREATE INDEX deliveries_by_hash ON deliveries (block_hash)""",
        """CREATE TABLE chain_failures (
            slot BIGINT NOT NULL,
            at_ms BIGINT NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (slot, at_ms))""",
    ]),
    (8, "preconfirmations: messages name the signed bid they answer and when they were stored; "
        "commitment outcomes and the settlement ledger", [
        # bid_key = bid digest + bid signature (hex): the digest alone is shared by copies
        # of a bid signed by others. stored_ms bounds the dispatch timestamp at settlement.
        """ALTER TABLE preconf_messages ADD COLUMN bid_key TEXT""",
        """ALTER TABLE preconf_messages ADD COLUMN stored_ms BIGINT""",
        """CREATE TABLE preconf_outcomes (
            block_number BIGINT NOT NULL,
            bid_key TEXT NOT NULL,
            commitment_digest TEXT NOT NULL,
            bidder TEXT NOT NULL,
            outcome TEXT NOT NULL,
            settlement TEXT NOT NULL,
            settled_ms BIGINT NOT NULL,
            PRIMARY KEY (block_number, bid_key))""",
        """CREATE TABLE preconf_ledger (
            block_number BIGINT NOT NULL,
            seq BIGINT NOT NULL,
            commitment_digest TEXT NOT NULL,
            source TEXT NOT NULL,
            dest TEXT NOT NULL,
            amount TEXT NOT NULL,
            kind TEXT NOT NULL,
            PRIMARY KEY (block_number, seq))""",
    ]),
    (9, "preconfirmations without a chain: a delivered block whose commitments are not settled yet", [
        # Written with the slot's report, deleted with its settlement: a row left after a
        # crash is a settlement still owed (service/preconf_block.py).
        """CREATE TABLE preconf_delivered (
            block_number BIGINT PRIMARY KEY,
            block_txs TEXT,
            stored_ms BIGINT NOT NULL)""",
    ]),
]

LATEST = MIGRATIONS[-1][0]
