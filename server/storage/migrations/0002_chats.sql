-- Switchboard schema, version 2: chats, messages, files, templates, contacts.

ALTER TABLE interactions ADD COLUMN chat_state TEXT;       -- new / in_progress / completed
ALTER TABLE interactions ADD COLUMN contact TEXT;          -- identified contact
ALTER TABLE interactions ADD COLUMN previous TEXT;         -- chat this one continues

-- Everyone who handled an interaction (it can pass from agent to agent).
CREATE TABLE interaction_agents (
    interaction TEXT NOT NULL,
    agent       TEXT NOT NULL,
    at          REAL NOT NULL,
    PRIMARY KEY (interaction, agent)
);
CREATE INDEX interaction_agents_agent ON interaction_agents (agent, at);

-- The chat record page fields agents fill in (also after the chat ended).
CREATE TABLE chat_records (
    interaction    TEXT PRIMARY KEY,
    name           TEXT NOT NULL DEFAULT '',
    result         TEXT,
    result_details TEXT NOT NULL DEFAULT '',
    notes          TEXT NOT NULL DEFAULT '',
    case_id        TEXT,
    candidates     TEXT NOT NULL DEFAULT '[]'   -- contact ids when several matched
);

CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    interaction TEXT NOT NULL,
    n           INTEGER NOT NULL,
    author      TEXT NOT NULL,      -- customer / agent / bot / system
    by          TEXT NOT NULL,      -- agent username or bot key id
    text        TEXT NOT NULL,
    file        TEXT,               -- files.id
    client_id   TEXT NOT NULL,
    template    TEXT,
    sent_at     REAL NOT NULL,
    UNIQUE (interaction, n),
    -- A resend with the same client id is the same message.
    UNIQUE (interaction, author, by, client_id)
);

CREATE TABLE files (
    id          TEXT PRIMARY KEY,
    interaction TEXT NOT NULL,
    name        TEXT NOT NULL,
    mime        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,      -- content address on disk
    by          TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX files_interaction ON files (interaction);

CREATE TABLE templates (
    id   TEXT PRIMARY KEY,
    data TEXT NOT NULL              -- Template as JSON
);

CREATE TABLE chat_results (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
INSERT INTO chat_results (id, name) VALUES
    ('resolved', 'Resolved'),
    ('information', 'Information given'),
    ('case_created', 'Case created'),
    ('callback', 'Callback needed'),
    ('no_reply', 'Customer did not reply'),
    ('spam', 'Spam');

CREATE TABLE companies (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE contacts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    account    TEXT REFERENCES companies (id),
    created_at REAL NOT NULL
);
CREATE INDEX contacts_name ON contacts (name COLLATE NOCASE);

-- Ways to reach or recognise a contact, normalised (E.164 phones, lower-case
-- emails, "source:user id" identities).
CREATE TABLE contact_options (
    contact TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL CHECK (kind IN ('phone', 'email', 'identity')),
    value   TEXT NOT NULL,
    PRIMARY KEY (kind, value, contact)
);
CREATE INDEX contact_options_contact ON contact_options (contact);

CREATE INDEX interactions_contact ON interactions (contact, created_at);
CREATE INDEX interactions_created ON interactions (created_at);
