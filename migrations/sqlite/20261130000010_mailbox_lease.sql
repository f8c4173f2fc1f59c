-- Mailbox leases: the number of the lease, raised on each take; cursor writes check it.
ALTER TABLE mailboxes ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;
