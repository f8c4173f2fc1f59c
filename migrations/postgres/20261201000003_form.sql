-- The web form: requests waiting for their address to be confirmed, and an
-- outbox that also carries mail about no ticket yet (the confirmation).

CREATE TABLE form_requests (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    client TEXT NOT NULL,
    language TEXT NOT NULL,
    raw BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX form_requests_address ON form_requests (address, created_at);
CREATE INDEX form_requests_client ON form_requests (client, created_at);
CREATE INDEX form_requests_expires ON form_requests (expires_at);

ALTER TABLE outbox ALTER COLUMN ticket_id DROP NOT NULL;
