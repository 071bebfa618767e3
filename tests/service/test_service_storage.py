"""Storage: the schema module matches what the migrations build, a database made by the
released (positional-SQL) code opens with the named-column code, and statements bind by name."""

import json
import sqlite3

import pytest
from sqlalchemy import create_engine, inspect

from mevauction.service import dao
from mevauction.service.migrations import MIGRATIONS
from mevauction.service.records import OrderRecord, TraceFilter
from mevauction.service.schema import metadata, orders
from mevauction.service.store import Store, connect, migrate

# The released migrations (never edited once released), for building a database as the old code did.
OLD_V1 = [s for v, _, ss in MIGRATIONS if v == 1 for s in ss]
OLD_LATER = [s for v, _, ss in MIGRATIONS if 1 < v <= 3 for s in ss]  # released with version 3


def shape(url: str) -> dict:
    """Tables → (column names in order, primary key, indexes) as the database reports them."""
    engine = create_engine(url)
    found = inspect(engine)
    out = {}
    for table in found.get_table_names():
        pk = found.get_pk_constraint(table)["constrained_columns"]
        indexes = {i["name"]: tuple(i["column_names"]) for i in found.get_indexes(table)
                   if not i["name"].startswith(("sqlite_autoindex", f"{table}_pkey", f"{table}_seq_key"))}
        out[table] = ([c["name"] for c in found.get_columns(table)], sorted(pk), indexes)
    engine.dispose()
    return out


def declared() -> dict:
    return {t.name: ([c.name for c in t.columns], sorted(c.name for c in t.primary_key),
                     {i.name: tuple(c.name for c in i.columns) for i in t.indexes})
            for t in metadata.sorted_tables}


def test_schema_module_is_what_the_migrations_build(tmp_path):
    db = connect(f"sqlite:///{tmp_path / 's.db'}")
    assert migrate(db) == [v for v, _, _ in MIGRATIONS]
    db.conn.close()
    assert shape(f"sqlite:///{tmp_path / 's.db'}") == declared()


def old_code_database(path, version: int) -> None:
    """What the released code wrote: its DDL and its positional INSERTs."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    for statement in OLD_V1:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.execute("INSERT INTO meta (key, value) VALUES ('genesis', '1000.0'), ('slot_seconds', '12.0')")
    order = {"id": "o1", "reads": ["k"], "writes": ["k"], "bid": {"default": 7}}
    conn.execute("INSERT INTO orders (slot, id, seq, kind, signer, replacement_uuid, params, scenario_order, "
                 "received_ms, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (5, "o1", 1, "order", "0xaa", "u1", json.dumps([{"order": order}]), json.dumps(order), 111, "pending"))
    conn.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (4, "o0", 0, "order", "0xaa", None, "[]", json.dumps(order), 100, "included", "30", "4", None))
    conn.execute("INSERT INTO slots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (4, '{"kind":"table"}', '{"proposer":30}', 200, "0x" + "11" * 32, "0x" + "00" * 32, "default",
                  "0x" + "22" * 48, "0x" + "33" * 48, "0x" + "44" * 20, 30_000_000, 21_000, 1, "30", f"{30:080d}", "4"))
    conn.execute("INSERT INTO builder_blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (4, "default", "0x" + "11" * 32, "0x" + "22" * 48, 1, 21_000, 1, "30", f"{30:080d}", 150))
    conn.execute("INSERT INTO builder_blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # a losing bid of 29
                 (4, "0xbb", "0x" + "11" * 32, "0xbb", 1, 21_000, 1, "29", f"{29:080d}", 140))
    conn.execute("INSERT INTO builder_bids VALUES (?, ?, ?, ?)", (5, "0xbb", '{"bid":9}', 120))
    if version >= 3:
        for statement in OLD_LATER:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (2), (3)")
        conn.execute("INSERT INTO preconf_bids VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (1, "d1", "s1", "0xcc", 6, 130, '{"bid":1}'))
        conn.execute("INSERT INTO preconf_messages VALUES (?, ?, ?, ?)", ("d1", 0, "reject", '{"kind":"reject"}'))
    conn.close()


@pytest.mark.parametrize("version", [1, 3])
def test_database_made_by_the_old_code_opens(tmp_path, version):
    path = tmp_path / "old.db"
    old_code_database(path, version)
    store = Store(f"sqlite:///{path}")  # migrates what is missing
    try:
        meta, pending, bids, top, head = store.read_now(lambda db: (
            dao.read_meta(db), dao.unsettled_orders(db), dao.unsettled_builder_bids(db), dao.max_order_seq(db),
            dao.chain_head(db)))
        assert meta == {"genesis": "1000.0", "slot_seconds": "12.0"} and top == 1
        assert [(o.slot, o.id, o.replacement_uuid, o.status, o.scenario_order["bid"]) for o in pending] == \
            [(5, "o1", "u1", "pending", {"default": 7})]
        assert [(b.slot, b.builder, b.submission) for b in bids] == [(5, "0xbb", {"bid": 9})]
        assert head is not None and (head.slot, head.block_hash) == (4, "0x" + "11" * 32)
        found = store.read_now(lambda db: dao.included_order(db, "o0", None))
        assert found is not None and found.block_hash == "0x" + "11" * 32
        settled = found.order
        assert (settled.payment, settled.refund, settled.status, settled.key) == (30, 4, "included", "o0")
        mine = store.read_now(lambda db: dao.signer_order(db, "0xaa", "o1", None))
        assert mine is not None and mine.slot == 5 and store.read_now(
            lambda db: dao.signer_order(db, "0xbb", "o1", None)) is None
        traces = store.read_now(lambda db: dao.received_blocks(db, TraceFilter(slot=4), "", 10))
        assert [(t.value, t.valid, t.timestamp_ms, t.proposer_pubkey) for t in traces] == \
            [(None, True, 140, "0x" + "33" * 48), (30, True, 150, "0x" + "33" * 48)]  # the losing bid is dropped
        assert store.read_now(lambda db: dao.slot_history(db, 5))[0].refunds == 4
        # new rows go in by name next to the old ones
        store.write_now(lambda db: dao.insert_order(db, OrderRecord(6, "o2", 2, "order", "0xaa", None, [], {}, 140)))
        if version >= 3:
            assert [(b.digest, b.signed_bid) for b in store.read_now(dao.preconf_bids_in_order)] == \
                [("d1", {"bid": 1})]
    finally:
        store.close()
    assert shape(f"sqlite:///{path}") == declared()


def test_statements_bind_by_name(tmp_path):
    db = connect(f"sqlite:///{tmp_path / 'b.db'}")
    migrate(db)
    row = {c.name: None for c in orders.columns}
    with pytest.raises(KeyError, match="unknown \\['colour'\\]"):
        db.execute(dao.INSERT_ORDER, {**row, "colour": "red"})
    del row["note"]
    with pytest.raises(KeyError, match="missing \\['note'\\]"):
        db.execute(dao.INSERT_ORDER, row)
    db.conn.close()
