-- The caps on automatic mail count a recipient without case or `+tag`, and per domain.
ALTER TABLE outbox ADD COLUMN recipient_key TEXT;
ALTER TABLE outbox ADD COLUMN recipient_domain TEXT;
CREATE INDEX outbox_recipient_key ON outbox (recipient_key, kind, created_at);
CREATE INDEX outbox_recipient_domain ON outbox (recipient_domain, kind, created_at);
CREATE INDEX outbox_kind_created ON outbox (kind, created_at);
