"""Durable storage: SQLite (WAL) by default, PostgreSQL by URL; group commit.

Every acknowledgement waits for a durable commit. One writer thread owns the write
connection: it takes every write queued since its last commit, runs them in one
transaction, commits once, and only then resolves the waiting requests (if one write
fails, the batch is redone write by write so that only that one fails). Under load one
fsync covers many orders, which is how durability and thousands of acknowledgements per second go together.

URLs: ``sqlite:///path/to.db`` (or a bare path) and ``postgresql://user@host/db``.
Statements are SQLAlchemy Core, built from the tables of :mod:`mevauction.service.schema`
(every query is in :mod:`mevauction.service.dao`); :class:`Db` compiles each one for its
database and runs it on the plain DB-API connection, parameters bound by name. Writes
are compiled once per connection and reused: running them through SQLAlchemy's
``Connection.execute`` measured ~200 µs a statement against ~25 µs for the driver, which
at thousands of orders a second would cost the server most of a core.
"""

from __future__ import annotations

import asyncio
import operator
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from mevauction.errors import InputError
from mevauction.service.migrations import MIGRATIONS
from mevauction.service.schema import schema_version as version_table

MAX_BATCH = 2000


class StorageError(Exception):
    """A write did not become durable; the request it belongs to is not acknowledged."""


NO_VALUES: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Prepared:
    """A statement compiled for one database: its SQL and how to bind values by name."""

    sql: str
    names: tuple[str, ...]  # the parameter of each placeholder, in order
    accepted: frozenset[str]  # the parameters (the set of ``names``)
    required: frozenset[str]  # those the caller must give
    defaults: Mapping[str, Any]  # values the statement binds itself (literals, LIMIT)
    columns: tuple[str, ...]  # result column names (SELECT)
    pick: Callable[[Mapping[str, Any]], tuple]  # the values of ``names``, in order

    def args(self, values: Mapping[str, Any]) -> tuple:
        """The positional arguments for ``values``; a missing or unknown name is an error,
        so a record and a statement that disagree on a column fail loudly."""
        if not self.required <= values.keys() <= self.accepted:
            missing, unknown = self.required - values.keys(), values.keys() - self.accepted
            raise KeyError(f"parameters missing {sorted(missing)}, unknown {sorted(unknown)} for: {self.sql}")
        # itemgetter: this runs for every order on the intake path
        return self.pick({**self.defaults, **values} if self.defaults else values)


def prepare(stmt: ClauseElement, dialect: Dialect) -> Prepared:
    compiled = cast(SQLCompiler, stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True}))
    names = tuple(compiled.positiontup or ())
    required = frozenset(n for n in names if compiled.binds[n].required)
    columns = tuple(stmt.selected_columns.keys()) if isinstance(stmt, Select) else ()
    defaults = {n: compiled.params[n] for n in names if n not in required}
    return Prepared(str(compiled), names, frozenset(names), required, defaults, columns, _picker(names))


def _picker(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple]:
    """A function taking the values of ``names`` out of a mapping, as a tuple."""
    if len(names) > 1:
        return operator.itemgetter(*names)  # a tuple for two or more names
    return lambda values: tuple(values[n] for n in names)


class Db:
    """A DB-API connection, and the SQLAlchemy dialect its statements are compiled for.

    ``execute``/``executemany`` keep each statement's compiled form (they are given the
    module-level statements of :mod:`mevauction.service.dao`); ``rows``/``first``
    compile per call, since reads may be built from request filters.
    """

    def __init__(self, conn: Any, dialect: Dialect):
        self.conn = conn
        self.dialect = dialect
        self._prepared: dict[int, tuple[ClauseElement, Prepared]] = {}

    def sql(self, text: str) -> None:
        """Run a fixed SQL text without parameters: transaction control, migration DDL."""
        self.conn.cursor().execute(text)

    def _reused(self, stmt: ClauseElement) -> Prepared:
        hit = self._prepared.get(id(stmt))
        if hit is None or hit[0] is not stmt:
            hit = self._prepared[id(stmt)] = (stmt, prepare(stmt, self.dialect))
        return hit[1]

    def execute(self, stmt: ClauseElement, values: Mapping[str, Any] = NO_VALUES) -> int:
        """Run a write; returns the number of rows it touched."""
        prepared = self._reused(stmt)
        cur = self.conn.cursor()
        cur.execute(prepared.sql, prepared.args(values))
        return cur.rowcount

    def executemany(self, stmt: ClauseElement, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            prepared = self._reused(stmt)
            self.conn.cursor().executemany(prepared.sql, [prepared.args(r) for r in rows])

    def rows(self, stmt: Select, values: Mapping[str, Any] = NO_VALUES) -> list[dict[str, Any]]:
        """The result rows of a query, each keyed by column name."""
        prepared = prepare(stmt, self.dialect)
        cur = self.conn.cursor()
        cur.execute(prepared.sql, prepared.args(values))
        return [dict(zip(prepared.columns, row)) for row in cur.fetchall()]

    def first(self, stmt: Select, values: Mapping[str, Any] = NO_VALUES) -> dict[str, Any] | None:
        found = self.rows(stmt.limit(1), values)
        return found[0] if found else None


def connect(url: str) -> Db:
    """Open a connection in autocommit mode; transactions are explicit (BEGIN/COMMIT)."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        try:
            import psycopg
        except ImportError:  # pragma: no cover - declared as the 'postgres' extra
            raise InputError("db", "PostgreSQL needs the psycopg package (pip install mevauction[postgres])") from None
        try:
            pg = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        except psycopg.Error as exc:
            raise InputError("db", f"cannot connect to PostgreSQL: {str(exc).splitlines()[0]}") from None
        return Db(pg, PGDialect(paramstyle="format"))
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    if path in ("", ":memory:") or (url.startswith("sqlite://") and not url.startswith("sqlite:///")):
        raise InputError("db", "SQLite needs a file path (sqlite:///path/to.db): durability needs a file")
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged order survives
        # power loss, not only a killed process.
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error as exc:
        raise InputError("db", f"cannot open SQLite database {path!r}: {exc}") from None
    return Db(conn, SQLiteDialect(paramstyle="qmark"))


def schema_version(db: Db) -> int:
    db.sql("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.first(select(func.max(version_table.c.version).label("version")))
    return int(row["version"]) if row and row["version"] is not None else 0


def migrate(db: Db) -> list[int]:
    """Apply the migrations the database lacks, each atomically; returns those applied.

    "Lacks" is by number, not by the highest applied: numbers are reserved per change
    and may land out of order (8 before 6), so a database at 8 still gets 6 later."""
    applied = []
    schema_version(db)  # creates the table if needed
    done = {int(r["version"]) for r in db.rows(select(version_table.c.version))}
    for version, _title, statements in MIGRATIONS:
        if version in done:
            continue
        db.sql("BEGIN")
        try:
            for statement in statements:
                db.sql(statement)
            db.execute(version_table.insert(), {"version": version})
            db.sql("COMMIT")
        except Exception:
            db.sql("ROLLBACK")
            raise
        applied.append(version)
    return applied


WriteFn = Callable[[Db], Any]


class Store:
    """The database behind the service: one group-committing writer, one reader."""

    def __init__(self, url: str):
        self.url = url
        self.writer_db = connect(url)
        migrate(self.writer_db)
        self.reader_db = connect(url)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-read")
        self._thread = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self.commits = 0
        self.written = 0
        self._thread.start()

    # -- writes -----------------------------------------------------------------------
    def write(self, fn: WriteFn) -> asyncio.Future:
        """Queue ``fn(db)``; the future resolves with its result once durably committed."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((fn, future, loop))
        return future

    def write_now(self, fn: WriteFn) -> Any:
        """Run ``fn(db)`` in its own committed transaction from a non-async caller."""
        done = threading.Event()
        box: list = []
        self._queue.put((fn, (done, box), None))
        done.wait()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def _write_loop(self) -> None:
        db = self.writer_db
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            results = self._run_batch(db, batch)
            self._deliver(batch, results)

    def _run_batch(self, db: Db, batch: list) -> list:
        """One transaction for the whole batch; if anything in it fails, each write
        is retried in a transaction of its own, so one bad write fails alone."""
        try:
            return self._transaction(db, [fn for fn, _, _ in batch])
        except Exception:
            results = []
            for fn, _, _ in batch:
                try:
                    results.append(self._transaction(db, [fn])[0])
                except Exception as exc:
                    results.append(StorageError(f"{type(exc).__name__}: {exc}"))
            return results

    def _transaction(self, db: Db, fns: list) -> list:
        db.sql("BEGIN")
        try:
            results = [fn(db) for fn in fns]
            db.sql("COMMIT")
        except Exception:
            try:
                db.sql("ROLLBACK")
            except Exception:
                pass  # the failed statement may already have ended the transaction
            raise
        self.commits += 1
        self.written += len(fns)
        return results

    @staticmethod
    def _deliver(batch: list, results: list) -> None:
        by_loop: dict = {}
        for (_, target, loop), result in zip(batch, results):
            if loop is None:
                done, box = target
                box.append(result)
                done.set()
            else:
                by_loop.setdefault(loop, []).append((target, result))
        for loop, items in by_loop.items():
            loop.call_soon_threadsafe(_resolve_all, items)

    # -- reads ------------------------------------------------------------------------
    async def read(self, fn: Callable[[Db], Any]) -> Any:
        """Run ``fn(db)`` on the reader connection, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._reads, fn, self.reader_db)

    def read_now(self, fn: Callable[[Db], Any]) -> Any:
        return self._reads.submit(fn, self.reader_db).result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._reads.shutdown(wait=True)
        for db in (self.writer_db, self.reader_db):
            db.conn.close()


def _resolve_all(items: list) -> None:
    for future, result in items:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
