-- Switchboard schema, version 5: cases, case queues, the knowledge base, the mail outbox.

CREATE TABLE case_queues (
    id   TEXT PRIMARY KEY,
    data TEXT NOT NULL              -- CaseQueueConfig as JSON
);

CREATE TABLE cases (
    number         TEXT PRIMARY KEY,     -- "SR00000001": the case's id
    seq            INTEGER NOT NULL UNIQUE,
    subject        TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    contact        TEXT,
    account        TEXT,                 -- companies.id
    account_name   TEXT NOT NULL DEFAULT '',
    email          TEXT NOT NULL DEFAULT '',
    queue          TEXT NOT NULL,        -- case_queues.id
    grp            TEXT,                 -- assignee group (a case queue)
    priority       TEXT NOT NULL,
    status         TEXT NOT NULL,
    assignee       TEXT,
    created_at     REAL NOT NULL,
    created_by     TEXT NOT NULL DEFAULT '',
    updated_at     REAL NOT NULL,
    response_due   REAL NOT NULL,
    resolution_due REAL NOT NULL,
    responded_at   REAL,
    resolved_at    REAL,
    closed_at      REAL,
    satisfaction   INTEGER
);
-- Restart loads only the open ones.
CREATE INDEX cases_open ON cases (status) WHERE status NOT IN ('closed', 'canceled');
CREATE INDEX cases_contact ON cases (contact, seq);
CREATE INDEX cases_queue ON cases (queue, seq);

-- Every change of a case: who, when, what.
CREATE TABLE case_history (
    case_id TEXT NOT NULL,
    at      REAL NOT NULL,
    by      TEXT NOT NULL,
    action  TEXT NOT NULL,
    field   TEXT NOT NULL DEFAULT '',
    old     TEXT,
    new     TEXT,
    text    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX case_history_case ON case_history (case_id, at);

-- Calls and chats that raised ("raised") or discussed ("consulted") a case.
CREATE TABLE case_links (
    case_id     TEXT NOT NULL,
    interaction TEXT NOT NULL,
    role        TEXT NOT NULL,
    at          REAL NOT NULL,
    PRIMARY KEY (case_id, interaction)
);
CREATE INDEX case_links_interaction ON case_links (interaction);

CREATE TABLE articles (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    tags       TEXT NOT NULL DEFAULT '[]',   -- JSON list of strings
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);

CREATE TABLE case_articles (
    case_id TEXT NOT NULL,
    article TEXT NOT NULL,
    at      REAL NOT NULL,
    by      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (case_id, article)
);

-- Customer notifications; $placeholders are filled in when the mail is written.
CREATE TABLE mail_templates (
    id      TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    body    TEXT NOT NULL
);
INSERT INTO mail_templates (id, subject, body) VALUES
    ('case_in_progress', '[$number] We are working on your request: $subject',
     'Hello,

your request $number "$subject" is now being handled by our team.
We will resolve it by $resolution_due.

Customer service'),
    ('case_waiting', '[$number] We need more information: $subject',
     'Hello,

to go on with your request $number "$subject" we need a little more
information from you. Please answer this message or write on the portal.

Customer service'),
    ('case_resolved', '[$number] Your request has been resolved: $subject',
     'Hello,

your request $number "$subject" has been resolved.

How satisfied are you? Choose a grade from 1 (very dissatisfied) to 5
(very satisfied):

$satisfaction_links

If the problem is still there, just answer this message and we will
look into it again.

Customer service'),
    ('case_canceled', '[$number] Your request has been canceled: $subject',
     'Hello,

your request $number "$subject" has been canceled. If you still need
help, answer this message or contact us again.

Customer service');

-- Mails written in the same transaction as the change they announce, and
-- marked sent after the SMTP server took them (so a crash re-sends, never loses;
-- the Message-ID, made from the id, lets a receiver tell a re-send apart).
CREATE TABLE outbox (
    id         TEXT PRIMARY KEY,
    case_id    TEXT NOT NULL,
    template   TEXT NOT NULL,
    to_addr    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at REAL NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending',   -- pending / sent / failed
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    sent_at    REAL
);
CREATE INDEX outbox_due ON outbox (next_at) WHERE state = 'pending';
CREATE INDEX outbox_case ON outbox (case_id);
