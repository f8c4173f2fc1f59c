-- Messages that failed to be stored, counted across restarts: after
-- `ingest.max_store_attempts` failures a message is quarantined with the error,
-- so that one message can never stall its mailbox.
CREATE TABLE ingest_failures (
    mailbox TEXT NOT NULL,
    source_key TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (mailbox, source_key)
);
