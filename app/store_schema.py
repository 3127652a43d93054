"""The conversations database's schema and its versioned migrations.

Version 0 is the schema Hearth shipped before versions existed (``BASE_SCHEMA``, also what
``PRAGMA user_version`` reads on those files). Each later version is one entry of
``MIGRATIONS``, applied in order in one transaction that also sets ``user_version``, so a
crash mid-upgrade leaves the old file as it was. A new database is built the same way:
the base schema, then every migration. Migrations only add: a user's history always
survives an upgrade.

- 1: branches. ``messages.parent_id`` links each message to the one it answers or follows,
  so an edit or a regenerate adds a sibling instead of deleting; ``conversations.leaf_id``
  is the last message of the branch on screen. Old chats become one straight branch.
- 2: where each reply ran. ``messages.origin`` is the model's path: a local model folder,
  or ``remote://<provider>/<model>`` for a reply from a remote server. Replies written
  before it keep "" (they all ran on this machine: Hearth had no remote models then).
- 3: token probabilities. ``messages.token_probs`` holds a reply's tokens with their
  log-probabilities and top alternatives, as compact JSON (see app/token_probs.py); NULL
  for messages written before it and for user messages, which the view shows unshaded.
- 4: benchmark history. ``bench_runs`` holds one row per press of Run (when, how many
  rounds and new tokens, and whether it finished, was cancelled or failed);
  ``bench_results`` one row per configuration and case (see engine/report/results.py),
  written as each configuration finishes, so a cancelled run keeps what it measured.
- 5: citations. ``messages.sources`` holds what a reply was shown of its attached documents:
  each excerpt (or whole file) with its page or line range and exact text, and the note of
  what was left out, as compact JSON (see app/reply_sources.py); NULL for messages written
  before it and for replies without documents.
"""

from __future__ import annotations

import sqlite3

BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created REAL NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    stats TEXT NOT NULL DEFAULT '{}',
    finish_reason TEXT,
    complete INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    spans TEXT NOT NULL,
    tokens INTEGER NOT NULL
);
"""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 0 -> 1: branches and versions
        "ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE",
        "UPDATE messages SET parent_id = (SELECT MAX(p.id) FROM messages p "
        "WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id)",
        "ALTER TABLE conversations ADD COLUMN leaf_id INTEGER",
        "UPDATE conversations SET leaf_id = (SELECT MAX(m.id) FROM messages m WHERE m.conversation_id = conversations.id)",
        "CREATE INDEX IF NOT EXISTS messages_by_parent ON messages(parent_id)",
    ),
    (  # 1 -> 2: where each reply ran
        "ALTER TABLE messages ADD COLUMN origin TEXT NOT NULL DEFAULT ''",
    ),
    (  # 2 -> 3: token probabilities
        "ALTER TABLE messages ADD COLUMN token_probs TEXT",
    ),
    (  # 3 -> 4: benchmark history
        "CREATE TABLE bench_runs (id INTEGER PRIMARY KEY, created REAL NOT NULL, "
        "status TEXT NOT NULL DEFAULT 'running')",
        "CREATE TABLE bench_results (id INTEGER PRIMARY KEY, "
        "run_id INTEGER NOT NULL REFERENCES bench_runs(id) ON DELETE CASCADE, "
        "model TEXT NOT NULL, folder TEXT NOT NULL DEFAULT '', precision TEXT NOT NULL, provider TEXT NOT NULL, "
        "threads INTEGER, case_name TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, "
        "ttft_ms REAL, prefill_tps REAL, decode_tps REAL, peak_rss_mb REAL, "
        "rounds INTEGER NOT NULL, new_tokens INTEGER NOT NULL)",
        "CREATE INDEX bench_results_by_run ON bench_results(run_id, id)",
    ),
    (  # 4 -> 5: citations
        "ALTER TABLE messages ADD COLUMN sources TEXT",
    ),
)

VERSION = len(MIGRATIONS)


def version_of(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def upgrade(db: sqlite3.Connection) -> int:
    """Bring ``db`` (autocommit mode) to ``VERSION``; returns the version it had.

    Raises ``sqlite3.Error`` having changed nothing if a step fails, and
    ``sqlite3.DatabaseError`` for a file written by a newer Hearth.
    """
    db.executescript(BASE_SCHEMA)  # a no-op on an existing file
    found = version_of(db)
    if found > VERSION:
        raise sqlite3.DatabaseError(f"the file was written by a newer Hearth (version {found})")
    if found == VERSION:
        return found
    db.execute("BEGIN IMMEDIATE")
    try:
        current = version_of(db)  # another Hearth may have upgraded it while we waited
        for steps in MIGRATIONS[current:]:
            for statement in steps:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return found
