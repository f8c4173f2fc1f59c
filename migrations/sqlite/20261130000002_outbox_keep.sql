-- Given-up mail keeps its body for a while, and passing failures are retried
-- for a time measured from the mail's first failure.

ALTER TABLE outbox ADD COLUMN failing_since INTEGER;
ALTER TABLE outbox ADD COLUMN failed_at INTEGER;
