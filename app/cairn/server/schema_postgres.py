"""PostgreSQL schema and the functions that keep each request to one round trip.

`cairn_claim` counts a hit in the node's fixed rate-limit window (one row per node and window,
updated in place) and then records the nonce (a UNIQUE insert, so every instance sees every
nonce), in the order the SQLite backend checks them.
`cairn_put_batch` is a whole PUT in one statement, so one round trip and one commit: the claim,
then the store row locked (serialising batches of one store across every instance), then the
rules of `cairn.server.batch.plan_batch` in SQL, then the writes. A refusal writes nothing but
the claim, which commits with it, so a refused batch still uses up its nonce. The rules are
written twice (Python for SQLite, SQL here); the backend conformance suite runs every rule
against both, so they cannot drift apart unnoticed.
`cairn_put_batches` is several of those PUTs in one statement and one commit, each checked and
answered as `cairn_put_batch` does; the lanes send it for PUTs that arrive together (pg_lanes.py).
"""

from __future__ import annotations

SCHEMA_VERSION = 3
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
-- Schema 3: the incarnation of every erased life of a store, which no later batch may name.
CREATE TABLE IF NOT EXISTS erased_lives (
    node_id text NOT NULL,
    store_id text NOT NULL,
    incarnation text NOT NULL,
    PRIMARY KEY (node_id, store_id, incarnation)
);
-- The v1 batch functions applied per-key version + 1; v2's is cairn_put_batch below.
DROP FUNCTION IF EXISTS cairn_apply_batches(
    text[], text[], bigint[], text[], bigint[], bigint[], integer[], integer[], integer[],
    text[], bigint[], bytea[], integer[], integer[], text[], bigint[]);
DROP FUNCTION IF EXISTS cairn_apply_batch(
    text, text, text[], bigint[], bytea[], text[], bigint[], bigint, text, bigint, bigint, integer);

-- A whole PUT in one round trip. The outcome is one of 'applied', 'replayed', 'rate_limited',
-- 'incarnation', 'erased_life', 'generation', 'version' (the conflicts, in that order) or
-- 'quota'; for a conflict the store's state and, per key in p_keys order, the current version,
-- whether a row exists and the write that made it; for 'quota' the bytes the store would hold.
CREATE OR REPLACE FUNCTION cairn_put_batch(
    p_node text, p_store text,
    p_nonce text, p_expires bigint, p_window bigint, p_limit integer,
    p_incarnation text, p_generation bigint, p_write_id text,
    p_keys text[], p_versions bigint[], p_values bytea[], p_deleted boolean[],
    p_quota bigint, p_now bigint,
    OUT o_outcome text, OUT o_generation bigint, OUT o_incarnation text, OUT o_erased boolean,
    OUT o_current bigint[], OUT o_present boolean[], OUT o_write_ids text[], OUT o_used bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_objects bigint;
    v_bytes bigint;
    v_created boolean := false;
    v_replaced bigint;
    v_live bigint;
    v_mismatch boolean;
    v_puts bigint;
BEGIN
    IF p_nonce IS NOT NULL THEN
        o_outcome := cairn_claim(p_node, p_nonce, p_expires, p_window, p_limit);
        IF o_outcome <> 'ok' THEN
            RETURN;
        END IF;
    END IF;
    -- If another transaction creates the row at the same moment, the insert waits for it and
    -- the next round locks the row it committed.
    LOOP
        SELECT s.generation, s.incarnation, s.erased, s.objects, s.bytes
            INTO o_generation, o_incarnation, o_erased, v_objects, v_bytes
            FROM stores s WHERE s.node_id = p_node AND s.store_id = p_store FOR UPDATE;
        EXIT WHEN FOUND;
        INSERT INTO stores (node_id, store_id, generation, objects, bytes)
            VALUES (p_node, p_store, 0, 0, 0) ON CONFLICT DO NOTHING;
        v_created := v_created OR FOUND;
    END LOOP;
    SELECT array_agg(coalesce(o.version, 0) ORDER BY k.i),
           array_agg(o.key IS NOT NULL ORDER BY k.i),
           array_agg(o.write_id ORDER BY k.i),
           coalesce(sum(o.size), 0),
           count(*) FILTER (WHERE o.key IS NOT NULL AND NOT o.deleted),
           coalesce(bool_or(NOT (k.v = coalesce(o.version, 0)
                                 OR (k.v = 0 AND (o.key IS NULL OR o.deleted)))), false)
        INTO o_current, o_present, o_write_ids, v_replaced, v_live, v_mismatch
        FROM unnest(p_keys, p_versions) WITH ORDINALITY AS k(key, v, i)
        LEFT JOIN objects o ON o.node_id = p_node AND o.store_id = p_store
            AND o.key = k.key COLLATE "C";
    IF o_incarnation IS NOT NULL AND p_incarnation <> o_incarnation THEN
        o_outcome := 'incarnation';
    ELSIF o_incarnation IS NULL AND o_erased AND EXISTS (
            SELECT 1 FROM erased_lives e WHERE e.node_id = p_node AND e.store_id = p_store
                AND e.incarnation = p_incarnation) THEN
        o_outcome := 'erased_life';
    ELSIF p_generation <> o_generation THEN
        o_outcome := 'generation';
    ELSIF v_mismatch THEN
        o_outcome := 'version';
    ELSE
        o_used := v_bytes - v_replaced
            + (SELECT coalesce(sum(octet_length(val)), 0) FROM unnest(p_values) AS u(val));
        -- A store already over a lowered quota may still shrink.
        IF o_used > p_quota AND o_used > v_bytes THEN
            o_outcome := 'quota';
        END IF;
    END IF;
    IF o_outcome IS NOT NULL AND o_outcome <> 'ok' THEN
        IF v_created THEN  -- a refused first batch leaves no store behind
            DELETE FROM stores WHERE node_id = p_node AND store_id = p_store;
        END IF;
        RETURN;
    END IF;
    o_generation := o_generation + 1;
    SELECT count(*) FILTER (WHERE NOT d) INTO v_puts FROM unnest(p_deleted) AS u(d);
    INSERT INTO objects (node_id, store_id, key, version, size, value, deleted, write_id,
                         written_at)
        SELECT p_node, p_store, u.k, o_generation, octet_length(u.val), u.val, u.d, p_write_id,
               p_now
        FROM unnest(p_keys, p_values, p_deleted) AS u(k, val, d)
        ON CONFLICT (node_id, store_id, key) DO UPDATE SET version = excluded.version,
            size = excluded.size, value = excluded.value, deleted = excluded.deleted,
            write_id = excluded.write_id, written_at = excluded.written_at;
    UPDATE stores SET generation = o_generation, objects = v_objects - v_live + v_puts,
            bytes = o_used, incarnation = p_incarnation, erased = false
        WHERE node_id = p_node AND store_id = p_store;
    o_outcome := 'applied';
    o_incarnation := p_incarnation;
    o_erased := false;
    -- Only a conflict reports the keys' state; an applied batch's answer stays small to decode.
    o_current := NULL;
    o_present := NULL;
    o_write_ids := NULL;
END;
$$;
-- Several PUTs in one statement, so in one round trip and one commit: their arguments in
-- arrays, one element per batch, the items of every batch one after another (p_counts says
-- how many are each batch's). One row per batch, in order, as cairn_put_batch answers it.
CREATE OR REPLACE FUNCTION cairn_put_batches(
    p_node text[], p_store text[],
    p_nonce text[], p_expires bigint[], p_window bigint[], p_limit integer[],
    p_incarnation text[], p_generation bigint[], p_write_id text[], p_counts integer[],
    p_keys text[], p_versions bigint[], p_values bytea[], p_deleted boolean[],
    p_quota bigint[], p_now bigint
) RETURNS TABLE (
    o_outcome text, o_generation bigint, o_incarnation text, o_erased boolean,
    o_current bigint[], o_present boolean[], o_write_ids text[], o_used bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_at integer := 1;
    v_last integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_node, 1), 0) LOOP
        v_last := v_at + p_counts[i] - 1;
        RETURN QUERY SELECT * FROM cairn_put_batch(
            p_node[i], p_store[i], p_nonce[i], p_expires[i], p_window[i], p_limit[i],
            p_incarnation[i], p_generation[i], p_write_id[i],
            p_keys[v_at:v_last], p_versions[v_at:v_last], p_values[v_at:v_last],
            p_deleted[v_at:v_last], p_quota[i], p_now);
        v_at := v_last + 1;
    END LOOP;
END;
$$;
"""
