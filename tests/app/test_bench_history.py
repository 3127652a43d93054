"""Benchmark history in the conversations database: the schema-4 upgrade keeps a version-3
user's chats, and stored runs survive closing and reopening the store."""

from __future__ import annotations

import sqlite3

from app.bench_history import BenchHistory
from app.store import Store
from app.store_schema import MIGRATIONS, VERSION, version_of
from engine.report.results import rows_of
from tests.app.test_store_migration import _version_1_database


def _version_3_database(path) -> None:
    _version_1_database(path)
    db = sqlite3.connect(str(path), isolation_level=None)
    for statement in (*MIGRATIONS[1], *MIGRATIONS[2]):
        db.execute(statement)
    db.execute("PRAGMA user_version = 3")
    db.execute("UPDATE messages SET origin = '/models/SmolLM2' WHERE id = 7")
    db.close()


def _result(threads: int) -> dict:
    case = {"prompt_tokens": 44, "ttft_ms": 40.0, "decode_tps": 90.0, "prefill_tps": 900.0, "cached_tokens": 0}
    return {"model": "SmolLM2", "precision": "int4", "provider": "cpu", "short": case, "long": case,
            "chat": {**case, "cached_tokens": 171}, "peak_rss_mb": 290.0, "threads": threads}


def test_a_version_3_database_keeps_its_chats_and_gains_the_benchmark_history(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    _version_3_database(path)
    store = Store(path)
    assert version_of(store.db) == VERSION >= 4  # 4 added the tables; later versions only add
    trip = store.messages(1)
    assert [m.content for m in trip] == ["what should I pack?", "A towel.", "and for rain?", "Boots."]
    assert trip[-1].origin == "/models/SmolLM2" and trip[-1].versions == (6, 7)
    assert trip[0].attachments[0].text == "towel"
    history = BenchHistory(store.db)
    assert history.runs() == []
    run = history.start_run(1000.0)
    history.add_results(run, rows_of(_result(2)), "/models/SmolLM2")
    store.close()
    reopened = Store(path)
    assert version_of(reopened.db) == VERSION and len(reopened.messages(1)) == 4
    assert [r.id for r in BenchHistory(reopened.db).runs()] == [run]
    reopened.close()


def test_runs_survive_a_reopen_and_a_cancelled_run_keeps_its_results(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    store = Store(path)
    history = BenchHistory(store.db)
    empty = history.start_run(900.0)  # a run cancelled before any configuration finished
    history.end_run(empty, "cancelled")
    first = history.start_run(1000.0)
    rows = rows_of(_result(1)) + rows_of(_result(2))
    history.add_results(first, rows[:3])
    history.add_results(first, rows[3:])
    history.end_run(first, "finished")
    second = history.start_run(2000.0)
    history.add_results(second, rows[:3])
    history.end_run(second, "cancelled")
    store.close()

    reopened = Store(path)
    history = BenchHistory(reopened.db)
    runs = history.runs()
    assert [(r.id, r.status, r.results) for r in runs] == [(first, "finished", 6), (second, "cancelled", 3)]
    assert history.results(first) == rows and history.results(second) == rows[:3]
    history.delete_run(first)  # its results go with it
    assert [r.id for r in history.runs()] == [second]
    assert reopened.db.execute("SELECT COUNT(*) FROM bench_results").fetchone()[0] == 3
    reopened.close()
