"""Benchmark history in the conversations database (tables from store_schema version 4).

A run is one press of Run: its row is written when it starts, and each configuration's
results as soon as that configuration finishes, so a cancelled or failed run keeps what
it measured. Used from the GUI thread on the store's connection; each write is one short
transaction and raises ``sqlite3.Error`` having changed nothing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from engine.report.results import FIELDS, BenchRow

_COLUMNS = tuple("case_name" if f == "case" else f for f in FIELDS)


@dataclass(frozen=True)
class BenchRun:
    id: int
    created: float
    status: str  # "running", "finished", "cancelled" or "failed"
    results: int  # how many rows it holds

    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.created))


class BenchHistory:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db  # autocommit mode (the store's), so transactions are explicit

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def start_run(self, created: float | None = None) -> int:
        with self._transaction():
            cur = self.db.execute("INSERT INTO bench_runs (created) VALUES (?)", (created or time.time(),))
        return int(cur.lastrowid or 0)

    def add_results(self, run_id: int, rows: Sequence[BenchRow], folder: str = "") -> None:
        marks = ", ".join("?" * (len(_COLUMNS) + 2))
        values = [(run_id, folder, *asdict(r).values()) for r in rows]
        with self._transaction():
            self.db.executemany(f"INSERT INTO bench_results (run_id, folder, {', '.join(_COLUMNS)}) VALUES ({marks})",
                                values)

    def end_run(self, run_id: int, status: str) -> None:
        with self._transaction():
            self.db.execute("UPDATE bench_runs SET status = ? WHERE id = ?", (status, run_id))

    def delete_run(self, run_id: int) -> None:
        with self._transaction():
            self.db.execute("DELETE FROM bench_runs WHERE id = ?", (run_id,))

    def runs(self) -> list[BenchRun]:
        """Every run that holds results, oldest first."""
        found = self.db.execute(
            "SELECT r.id, r.created, r.status, COUNT(b.id) FROM bench_runs r JOIN bench_results b ON b.run_id = r.id "
            "GROUP BY r.id ORDER BY r.created, r.id").fetchall()
        return [BenchRun(int(i), float(c), str(s), int(n)) for i, c, s, n in found]

    def results(self, run_id: int) -> list[BenchRow]:
        found = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM bench_results WHERE run_id = ? ORDER BY id",
                                (run_id,)).fetchall()
        return [BenchRow(*tuple(row)) for row in found]
