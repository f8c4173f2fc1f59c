-- A ticket's link generation, mixed into its tracking token: `loket tickets revoke-link`
-- raises it, so the ticket's old link stops working and its next mail carries a new one.
ALTER TABLE tickets ADD COLUMN link_generation INTEGER NOT NULL DEFAULT 0;
