//! The store's tables, versioned with `PRAGMA user_version`. A migration is a list entry
//! run once, in a transaction with the version bump; a store newer than this code is
//! refused rather than guessed at.

use rusqlite::Connection;

use super::{Result, StoreError};

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE state_machines (
        arn         TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        definition  TEXT NOT NULL,            -- JSON text
        type        TEXT NOT NULL,            -- STANDARD | EXPRESS
        role_arn    TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        updated_ms  INTEGER
    );
    CREATE TABLE executions (
        arn                TEXT PRIMARY KEY,
        state_machine_arn  TEXT NOT NULL,
        name               TEXT NOT NULL,
        status             TEXT NOT NULL,     -- RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
        input              TEXT NOT NULL,     -- JSON text
        output             TEXT,
        error              TEXT,
        cause              TEXT,
        start_ms           INTEGER NOT NULL,
        stop_ms            INTEGER,
        info               TEXT NOT NULL,     -- the engine's ExecutionInfo (incl. its seed), JSON
        definition         TEXT NOT NULL,     -- the definition that runs, JSON text
        task_config        TEXT,              -- what the task resolver needs (mocks), JSON
        owner_id           TEXT,              -- who drives it while RUNNING
        owner_pid          INTEGER,
        owner_lease_ms     INTEGER
    );
    CREATE INDEX executions_by_machine ON executions (state_machine_arn, start_ms);
    CREATE INDEX executions_by_status ON executions (status);
    -- Every engine input after the start, in order: replaying it rebuilds the execution.
    CREATE TABLE journal (
        execution_arn  TEXT NOT NULL REFERENCES executions (arn) ON DELETE CASCADE,
        seq            INTEGER NOT NULL,
        at_ms          INTEGER NOT NULL,
        input          TEXT NOT NULL,         -- the engine's Input, JSON
        PRIMARY KEY (execution_arn, seq)
    ) WITHOUT ROWID;
    CREATE TABLE history (
        execution_arn  TEXT NOT NULL REFERENCES executions (arn) ON DELETE CASCADE,
        id             INTEGER NOT NULL,
        type           TEXT NOT NULL,
        timestamp_ms   INTEGER NOT NULL,
        event          TEXT NOT NULL,         -- GetExecutionHistory's shape, JSON
        PRIMARY KEY (execution_arn, id)
    ) WITHOUT ROWID;
    CREATE TABLE timers (
        execution_arn  TEXT NOT NULL REFERENCES executions (arn) ON DELETE CASCADE,
        timer_id       INTEGER NOT NULL,
        at_ms          INTEGER NOT NULL,
        task_id        INTEGER,               -- the task whose timeout or heartbeat it is
        PRIMARY KEY (execution_arn, timer_id)
    ) WITHOUT ROWID;
    CREATE TABLE activities (
        arn         TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    -- Tasks that wait for a token: activity tasks and .waitForTaskToken callbacks.
    CREATE TABLE tasks (
        token              TEXT PRIMARY KEY,
        execution_arn      TEXT NOT NULL REFERENCES executions (arn) ON DELETE CASCADE,
        task_id            INTEGER NOT NULL,
        kind               TEXT NOT NULL,     -- activity | callback
        state_name         TEXT NOT NULL,
        resource           TEXT NOT NULL,
        activity_arn       TEXT,
        activity_name      TEXT,
        input              TEXT NOT NULL,     -- JSON text
        status             TEXT NOT NULL CHECK (status IN ('scheduled', 'started', 'closed')),
        closed_reason      TEXT,              -- succeeded | failed | timed_out | cancelled
        worker             TEXT,
        heartbeat_seconds  INTEGER,
        timeout_seconds    INTEGER,
        scheduled_ms       INTEGER NOT NULL,
        started_ms         INTEGER,
        heartbeat_ms       INTEGER,
        closed_ms          INTEGER
    );
    CREATE INDEX tasks_by_activity_arn ON tasks (status, activity_arn, scheduled_ms);
    CREATE INDEX tasks_by_activity_name ON tasks (status, activity_name, scheduled_ms);
    CREATE UNIQUE INDEX tasks_by_execution ON tasks (execution_arn, task_id);
    -- Engine inputs posted by workers and callbacks, consumed by the execution's owner in the
    -- step that feeds them.
    CREATE TABLE task_messages (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        execution_arn  TEXT NOT NULL,
        token          TEXT NOT NULL,
        input          TEXT NOT NULL,         -- the engine's Input, JSON
        created_ms     INTEGER NOT NULL
    );
    ",
    // 2: redrive (AWS's RedriveExecution): how often, and when last.
    "
    ALTER TABLE executions ADD COLUMN redrive_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE executions ADD COLUMN redrive_ms INTEGER;
    ",
    // 3: tags of state machines and activities (TagResource), as `stepwise serve` keeps them.
    "
    CREATE TABLE tags (
        resource_arn  TEXT NOT NULL,
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        PRIMARY KEY (resource_arn, key)
    ) WITHOUT ROWID;
    ",
];

pub(super) fn migrate(conn: &mut Connection, path: &str) -> Result<()> {
    let known = SCHEMA_VERSION;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(StoreError::NewerSchema { path: path.to_owned(), found, known });
    }
    for sql in MIGRATIONS.iter().skip(found as usize) {
        tx.execute_batch(sql)?;
    }
    if found < known {
        tx.pragma_update(None, "user_version", known)?;
    }
    tx.commit()?;
    Ok(())
}
