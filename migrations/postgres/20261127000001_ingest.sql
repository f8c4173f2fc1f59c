-- Ingest: mailbox cursors, tickets, messages, attachments, timeline, quarantine.
-- Times are integer milliseconds since the epoch; ids are text.

CREATE TABLE mailboxes (
    name TEXT PRIMARY KEY,
    uidvalidity BIGINT,
    last_uid BIGINT NOT NULL DEFAULT 0,
    backlog_uid BIGINT,
    first_connected_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('ticket', 0);

CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    requester_address TEXT NOT NULL,
    requester_name TEXT,
    subject TEXT NOT NULL,
    department TEXT NOT NULL,
    category TEXT,
    status TEXT NOT NULL,
    language TEXT,
    decided_by TEXT NOT NULL,
    route_confidence DOUBLE PRECISION,
    route_reason TEXT NOT NULL,
    origin_mailbox TEXT NOT NULL,
    misdirected BIGINT NOT NULL DEFAULT 0,
    automatic TEXT,
    opening_message_id TEXT,
    token_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tickets_created ON tickets (created_at);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    ticket_id TEXT REFERENCES tickets (id) DEFERRABLE INITIALLY DEFERRED,
    direction TEXT NOT NULL,
    mailbox TEXT,
    source_key TEXT,
    uidvalidity BIGINT,
    uid BIGINT,
    message_id TEXT,
    dedupe_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    in_reply_to TEXT NOT NULL,
    references_ids TEXT NOT NULL,
    from_address TEXT NOT NULL,
    from_name TEXT,
    reply_to TEXT,
    to_list TEXT NOT NULL,
    cc_list TEXT NOT NULL,
    subject TEXT NOT NULL,
    sent_at BIGINT,
    received_at BIGINT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT,
    automatic TEXT,
    size BIGINT NOT NULL,
    raw BYTEA NOT NULL,
    UNIQUE (mailbox, source_key),
    UNIQUE (dedupe_id, sha256)
);
CREATE INDEX messages_ticket ON messages (ticket_id);
CREATE INDEX messages_message_id ON messages (message_id);

CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages (id),
    position BIGINT NOT NULL,
    filename TEXT,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    message_id TEXT
);
CREATE INDEX events_ticket ON events (ticket_id, at);

CREATE TABLE quarantine (
    id TEXT PRIMARY KEY,
    mailbox TEXT NOT NULL,
    source_key TEXT NOT NULL,
    reason TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    truncated BIGINT NOT NULL,
    raw BYTEA NOT NULL,
    at BIGINT NOT NULL,
    UNIQUE (mailbox, source_key),
    UNIQUE (mailbox, sha256)
);
