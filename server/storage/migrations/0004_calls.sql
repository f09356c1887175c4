-- Switchboard schema, version 4: calls, their journeys, scheduled calls.

CREATE TABLE calls (
    interaction  TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL,
    kind         TEXT NOT NULL,          -- inbound / callback / outbound / scheduled
    state        TEXT NOT NULL,
    number       TEXT NOT NULL,          -- the customer's number
    dialed       TEXT NOT NULL DEFAULT '',
    device       TEXT NOT NULL DEFAULT '',
    address      TEXT NOT NULL DEFAULT '',
    answered_at  REAL,
    ended_at     REAL,
    cause        TEXT NOT NULL DEFAULT '',
    related      TEXT,                   -- the transaction a callback follows up
    verified     INTEGER NOT NULL DEFAULT 0,
    requested_at REAL,
    result       TEXT,
    reason       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX calls_call_id ON calls (call_id);
CREATE INDEX calls_related ON calls (related);

CREATE TABLE call_steps (
    interaction TEXT NOT NULL,
    at          REAL NOT NULL,
    step        TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX call_steps_interaction ON call_steps (interaction, at);

CREATE TABLE scheduled_calls (
    id          TEXT PRIMARY KEY,
    agent       TEXT NOT NULL,
    number      TEXT NOT NULL,
    at          REAL NOT NULL,
    device      TEXT NOT NULL,
    queue       TEXT,
    related     TEXT,
    status      TEXT NOT NULL,           -- pending / placed / canceled
    interaction TEXT
);
CREATE INDEX scheduled_calls_pending ON scheduled_calls (status, at);
