-- Conversation: who may write on a ticket, who wrote each message, and what of
-- the timeline the employee may see on the status page.

CREATE TABLE participants (
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    address TEXT NOT NULL,
    role TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, address)
);

ALTER TABLE messages ADD COLUMN author_role TEXT;
ALTER TABLE events ADD COLUMN public_text TEXT;
CREATE INDEX tickets_department_status ON tickets (department, status);
