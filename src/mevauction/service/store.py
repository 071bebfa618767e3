"""Durable storage: SQLite (WAL) by default, PostgreSQL by URL; group commit.

Every acknowledgement waits for a durable commit. One writer thread owns the write
connection: it takes every write queued since its last commit, runs them in one
transaction, commits once, and only then resolves the waiting requests (if one write
fails, the batch is redone write by write so that only that one fails). Under load one fsync covers many orders, which is how
durability and thousands of acknowledgements per second go together.

URLs: ``sqlite:///path/to.db`` (or a bare path) and ``postgresql://user@host/db``.
SQL in this package is written with ``?`` placeholders and portable types; the thin
:class:`Db` wrapper adapts it to the driver.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mevauction.errors import InputError
from mevauction.service.migrations import MIGRATIONS

MAX_BATCH = 2000


class StorageError(Exception):
    """A write did not become durable; the request it belongs to is not acknowledged."""


class Db:
    """A DB-API connection with portable ``?`` SQL."""

    def __init__(self, conn: Any, postgres: bool):
        self.conn = conn
        self.postgres = postgres

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def execute(self, sql: str, params: tuple | list = ()) -> Any:
        cur = self.conn.cursor()
        cur.execute(self._sql(sql), params)
        return cur

    def executemany(self, sql: str, rows: list) -> None:
        if rows:
            self.conn.cursor().executemany(self._sql(sql), rows)

    def all(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple | list = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()


def connect(url: str) -> Db:
    """Open a connection in autocommit mode; transactions are explicit (BEGIN/COMMIT)."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        try:
            import psycopg
        except ImportError:  # pragma: no cover - declared as the 'postgres' extra
            raise InputError("db", "PostgreSQL needs the psycopg package (pip install mevauction[postgres])") from None
        try:
            conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        except psycopg.Error as exc:
            raise InputError("db", f"cannot connect to PostgreSQL: {str(exc).splitlines()[0]}") from None
        return Db(conn, postgres=True)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    if path in ("", ":memory:") or url.startswith("sqlite://") and not url.startswith("sqlite:///"):
        raise InputError("db", "SQLite needs a file path (sqlite:///path/to.db): durability needs a file")
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged order survives
        # power loss, not only a killed process.
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error as exc:
        raise InputError("db", f"cannot open SQLite database {path!r}: {exc}") from None
    return Db(conn, postgres=False)


def schema_version(db: Db) -> int:
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.one("SELECT MAX(version) FROM schema_version")
    return int(row[0]) if row and row[0] is not None else 0


def migrate(db: Db) -> list[int]:
    """Apply the migrations the database lacks, each atomically; returns those applied."""
    applied = []
    current = schema_version(db)
    for version, _title, statements in MIGRATIONS:
        if version <= current:
            continue
        db.execute("BEGIN")
        try:
            for statement in statements:
                db.execute(statement)
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
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
        db.execute("BEGIN")
        try:
            results = [fn(db) for fn in fns]
            db.execute("COMMIT")
        except Exception:
            try:
                db.execute("ROLLBACK")
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
