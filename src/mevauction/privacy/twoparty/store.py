"""A party's intake on disk: open auctions and the shares it acknowledged, in SQLite.

A receipt is signed only after the bid is committed here (a value, or a TFHE trader's
curve share with its side), so a party killed and restarted
(``sealed party serve --state FILE``, by default beside its key file) still holds every
share it acknowledged for an auction that is open, and still refuses bids for one that was
closed — each share with the MACs its bidder dealt (``binding``), without which the share
could not take part in a run. What is not kept: the bid-independent preparation (OTs and garbled circuit made at
``open``) and the link to the peer — a restarted party's pair garbles at the close instead
(``party._job_link``). The file holds this party's shares: alone each is uniformly random,
but it must be kept like the key (mode 0600), since the two parties' files together are
the bids.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS auctions (auction TEXT PRIMARY KEY, spec TEXT NOT NULL, closed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bids (auction TEXT NOT NULL, seq INTEGER NOT NULL, digest TEXT NOT NULL,
                                 bidder TEXT NOT NULL, share TEXT NOT NULL, side TEXT NOT NULL DEFAULT '',
                                 bind TEXT NOT NULL DEFAULT '',
                                 PRIMARY KEY (auction, seq));
"""
Share = int | list[int]  # one value, or a curve's one per level (the TFHE double auction)


class IntakeStore:
    def __init__(self, path: str) -> None:
        f = Path(path)
        if not f.exists():
            os.close(os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        # one connection, used under the intake's lock from its threads
        self.db = sqlite3.connect(str(f), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # an acknowledged share survives a power cut too
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(bids)")}
        for column in ("side", "bind"):  # a file from before curves (side) or before the MACs (bind)
            if column not in columns:
                self.db.execute(f"ALTER TABLE bids ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")

    def opened(self, auction: str, spec: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO auctions VALUES (?, ?, 0)", (auction, json.dumps(spec)))

    def accepted(self, auction: str, seq: int, digest: str, bidder: str, share: Share, side: str = "",
                 bind: dict[str, str] | None = None) -> None:
        """One acknowledged share (with its side, and the MACs its bidder dealt: they outlive a restart too)."""
        text = json.dumps(share) if isinstance(share, list) else hex(share)
        self.db.execute("INSERT INTO bids (auction, seq, digest, bidder, share, side, bind) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (auction, seq, digest, bidder, text, side, "" if bind is None else json.dumps(bind)))

    def closed(self, auction: str) -> None:
        self.db.execute("UPDATE auctions SET closed = 1 WHERE auction = ?", (auction,))

    def load(self) -> tuple[list[tuple[dict[str, Any], list[tuple[str, str, Share, str, dict | None]]]], set[str]]:
        """([(open auction's spec, its bids (digest, bidder, share, side, MACs) in order)], closed ids)."""
        open_, closed = [], set()
        for auction, spec, is_closed in self.db.execute("SELECT auction, spec, closed FROM auctions"):
            if is_closed:
                closed.add(auction)
                continue
            rows = self.db.execute("SELECT digest, bidder, share, side, bind FROM bids WHERE auction = ? ORDER BY seq",
                                   (auction,))
            bids = [(d, b, json.loads(s) if s.startswith("[") else int(s, 16), side, json.loads(m) if m else None)
                    for d, b, s, side, m in rows]
            open_.append((json.loads(spec), bids))
        return open_, closed
