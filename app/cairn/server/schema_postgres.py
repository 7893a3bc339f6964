"""PostgreSQL schema and the functions that keep each request to one round trip.

`cairn_claim` counts a hit in the node's fixed rate-limit window (one row per node and window,
updated in place) and then records the nonce (a UNIQUE insert, so every instance sees every
nonce), in the order the SQLite backend checks them.
A batch runs in one transaction that first records the claim, then locks the store row
(serialising batches of one store across every instance) and applies
`cairn.server.batch.plan_batch`.
"""

from __future__ import annotations

SCHEMA_VERSION = 2
MIGRATION_LOCK = 0x63616972  # pg_advisory_xact_lock key: one migrating instance at a time

SCHEMA = r"""
CREATE TABLE IF NOT EXISTS cairn_schema (version integer NOT NULL);

CREATE TABLE IF NOT EXISTS stores (
    node_id text NOT NULL,
    store_id text NOT NULL,
    generation bigint NOT NULL,
    objects bigint NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (node_id, store_id)
);

CREATE TABLE IF NOT EXISTS objects (
    node_id text NOT NULL,
    store_id text NOT NULL,
    key text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    size integer NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (node_id, store_id, key)
);
ALTER TABLE objects ALTER COLUMN value SET STORAGE EXTERNAL;

CREATE TABLE IF NOT EXISTS nonces (
    node_id text NOT NULL,
    nonce text NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (node_id, nonce)
);
-- No index on expires_at: the once-a-minute purge scans a table of a few minutes of requests,
-- which is cheaper than maintaining a second index on every request.

CREATE TABLE IF NOT EXISTS rate_windows (
    node_id text NOT NULL,
    window_start bigint NOT NULL,
    hits integer NOT NULL,
    PRIMARY KEY (node_id, window_start)
);

CREATE OR REPLACE FUNCTION cairn_claim(
    p_node text, p_nonce text, p_expires bigint, p_window bigint, p_limit integer
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_hits integer;
BEGIN
    -- The rate limit first, as on SQLite: every authenticated request counts (a replay too),
    -- and a request refused for the rate does not use up its nonce.
    IF p_limit > 0 THEN
        INSERT INTO rate_windows AS r (node_id, window_start, hits) VALUES (p_node, p_window, 1)
            ON CONFLICT (node_id, window_start) DO UPDATE SET hits = r.hits + 1
            RETURNING r.hits INTO v_hits;
        IF v_hits > p_limit THEN
            RETURN 'rate_limited';
        END IF;
    END IF;
    INSERT INTO nonces (node_id, nonce, expires_at) VALUES (p_node, p_nonce, p_expires)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'replayed';
    END IF;
    RETURN 'ok';
END;
$$;

-- Protocol v2 (schema 2): versions are generations, deletes leave tombstones, stores have
-- incarnations. Nothing stored is renumbered (a v1 version never exceeds its store's generation).
ALTER TABLE objects ADD COLUMN IF NOT EXISTS deleted boolean NOT NULL DEFAULT false;
ALTER TABLE objects ADD COLUMN IF NOT EXISTS write_id text;
ALTER TABLE objects ADD COLUMN IF NOT EXISTS written_at bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS objects_feed ON objects (node_id, store_id, version, key);
CREATE INDEX IF NOT EXISTS objects_tombstones ON objects (written_at) WHERE deleted;
ALTER TABLE stores ADD COLUMN IF NOT EXISTS incarnation text;
ALTER TABLE stores ADD COLUMN IF NOT EXISTS erased boolean NOT NULL DEFAULT false;
ALTER TABLE stores ADD COLUMN IF NOT EXISTS compacted bigint NOT NULL DEFAULT 0;
-- The v1 batch functions applied per-key version + 1; v2 applies batches in Python through
-- cairn.server.batch.plan_batch, the one owner of the rules.
DROP FUNCTION IF EXISTS cairn_apply_batches(
    text[], text[], bigint[], text[], bigint[], bigint[], integer[], integer[], integer[],
    text[], bigint[], bytea[], integer[], integer[], text[], bigint[]);
DROP FUNCTION IF EXISTS cairn_apply_batch(
    text, text, text[], bigint[], bytea[], text[], bigint[], bigint, text, bigint, bigint, integer);
"""
