-- Several instances: each one's heartbeat on the database's clock, from which
-- the live instances and each one's fair share of the mailboxes follow; and
-- since when a mailbox's lease is held, for `loket status`.
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
ALTER TABLE mailboxes ADD COLUMN lease_since BIGINT;
