-- Refresh tokens of OAuth clients with the refresh_token grant: the newest one the
-- provider handed out, saved before the access token that came with it is used.
CREATE TABLE oauth_tokens (
    client TEXT PRIMARY KEY NOT NULL,
    refresh_token TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
