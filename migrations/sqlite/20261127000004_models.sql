-- Routing: the models `loket train` stores, newest first found by the daemon.

CREATE TABLE models (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    examples INTEGER NOT NULL,
    corrections INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX models_created ON models (created_at);
