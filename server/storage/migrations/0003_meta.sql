-- Switchboard schema, version 3: server-wide values (e.g. the link-signing key).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
