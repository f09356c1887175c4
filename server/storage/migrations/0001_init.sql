-- Switchboard schema, version 1: configuration, credentials, routing state.

CREATE TABLE queues (
    id   TEXT PRIMARY KEY,
    data TEXT NOT NULL              -- QueueConfig as JSON
);

CREATE TABLE accounts (
    username TEXT PRIMARY KEY,
    data     TEXT NOT NULL          -- AgentConfig as JSON (agents and supervisors)
);

CREATE TABLE passwords (
    username TEXT PRIMARY KEY REFERENCES accounts (username) ON DELETE CASCADE,
    hash     TEXT NOT NULL          -- argon2id
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    data        TEXT NOT NULL,      -- ApiKeyConfig as JSON
    secret_hash TEXT NOT NULL UNIQUE  -- sha256 of a 256-bit random secret
);

CREATE TABLE agent_status (
    username TEXT PRIMARY KEY,
    status   TEXT NOT NULL,
    reason   TEXT NOT NULL DEFAULT ''
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,    -- sha256 of the resume token
    username   TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);

CREATE TABLE interactions (
    id          TEXT PRIMARY KEY,
    channel     TEXT NOT NULL,
    queue       TEXT NOT NULL,
    owner       TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    enqueued_at REAL NOT NULL,
    priority    INTEGER NOT NULL,
    band        INTEGER NOT NULL,
    ord         INTEGER NOT NULL,
    customer    TEXT NOT NULL,      -- Customer as JSON
    source      TEXT NOT NULL DEFAULT '',
    call_id     TEXT,
    agent       TEXT,
    accepted_at REAL,
    ended_at    REAL,
    end_reason  TEXT
);

-- Restart loads only what is still live.
CREATE INDEX interactions_live ON interactions (status) WHERE status NOT IN ('ended', 'failed');
CREATE INDEX interactions_agent ON interactions (agent, created_at);
CREATE INDEX interactions_owner ON interactions (owner, created_at);
