-- Routing: the models `loket train` stores, newest first found by the daemon.

CREATE TABLE models (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    examples BIGINT NOT NULL,
    corrections BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX models_created ON models (created_at);
