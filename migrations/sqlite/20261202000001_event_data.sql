-- A timeline event's facts as JSON (the typed event), rendered in the reader's
-- language when shown. `detail` keeps the English sentence for one release;
-- rows written before have only `detail`.

ALTER TABLE events ADD COLUMN data TEXT;
