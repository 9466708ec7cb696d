//! The schema: an append-only list of migrations. Migration N (1-based) is
//! applied when `PRAGMA user_version` < N and sets it to N. Never edit a
//! released migration; add a new one.

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "
    CREATE TABLE accounts (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        enabled     INTEGER NOT NULL,
        secret      TEXT,
        created_ms  INTEGER NOT NULL
    );
    -- The last known worker of each account and the steward that started it.
    -- No foreign key: a row may outlive its account until reconciled.
    CREATE TABLE workers (
        account           TEXT PRIMARY KEY,
        pid               INTEGER NOT NULL,
        start_time        INTEGER NOT NULL,
        pgid              INTEGER NOT NULL,
        owner_pid         INTEGER NOT NULL,
        owner_start_time  INTEGER NOT NULL,
        started_ms        INTEGER NOT NULL
    );
    CREATE TABLE temp_entries (
        id                INTEGER PRIMARY KEY,
        path              TEXT UNIQUE NOT NULL,
        kind              TEXT NOT NULL CHECK (kind IN ('file', 'dir')),
        owner_pid         INTEGER NOT NULL,
        owner_start_time  INTEGER NOT NULL,
        account           TEXT,
        label             TEXT,
        created_ms        INTEGER NOT NULL,
        bytes             INTEGER
    );
    CREATE TABLE events (
        id       INTEGER PRIMARY KEY,
        at_ms    INTEGER NOT NULL,
        kind     TEXT NOT NULL,
        subject  TEXT NOT NULL,
        detail   TEXT NOT NULL,
        result   TEXT NOT NULL
    );
    CREATE TABLE meta (
        key    TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    );
    ",
];
