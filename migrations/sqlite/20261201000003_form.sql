-- The web form: requests waiting for their address to be confirmed, and an
-- outbox that also carries mail about no ticket yet (the confirmation).

CREATE TABLE form_requests (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    client TEXT NOT NULL,
    language TEXT NOT NULL,
    raw BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX form_requests_address ON form_requests (address, created_at);
CREATE INDEX form_requests_client ON form_requests (client, created_at);
CREATE INDEX form_requests_expires ON form_requests (expires_at);

CREATE TABLE outbox_next (
    id TEXT PRIMARY KEY,
    ticket_id TEXT REFERENCES tickets (id) DEFERRABLE INITIALLY DEFERRED,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    sender TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    failing_since INTEGER,
    failed_at INTEGER,
    recipient_key TEXT,
    recipient_domain TEXT
);
INSERT INTO outbox_next (id, ticket_id, kind, recipient, sender, message_id, body, state, attempts,
    next_attempt_at, last_error, lease_owner, lease_until, created_at, sent_at, failing_since, failed_at,
    recipient_key, recipient_domain)
SELECT id, ticket_id, kind, recipient, sender, message_id, body, state, attempts,
    next_attempt_at, last_error, lease_owner, lease_until, created_at, sent_at, failing_since, failed_at,
    recipient_key, recipient_domain
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_next RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_ticket ON outbox (ticket_id);
CREATE INDEX outbox_recipient ON outbox (recipient, kind, created_at);
CREATE INDEX outbox_recipient_key ON outbox (recipient_key, kind, created_at);
CREATE INDEX outbox_recipient_domain ON outbox (recipient_domain, kind, created_at);
CREATE INDEX outbox_kind_created ON outbox (kind, created_at);
