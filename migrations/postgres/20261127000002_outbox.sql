-- Respond: the transactional outbox and the desk's own signing secret.

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets (id) DEFERRABLE INITIALLY DEFERRED,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    sender TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    body BYTEA NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_ticket ON outbox (ticket_id);
CREATE INDEX outbox_recipient ON outbox (recipient, kind, created_at);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
