"""PostgreSQL schema and the functions that keep each request to one round trip.

`cairn_claim` records a nonce (a UNIQUE insert, so every instance sees every nonce) and counts a
hit in the node's fixed rate-limit window (one row per node and window, updated in place).
`cairn_apply_batch` is the compare-and-swap batch (with the request's claim, in the same
transaction): it locks the store row (serialising batches of
one store across every instance), checks every version, checks the quota and applies all or
nothing. The rules are those of `cairn.server.batch.plan_batch`.
"""

from __future__ import annotations

SCHEMA_VERSION = 1
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
    INSERT INTO nonces (node_id, nonce, expires_at) VALUES (p_node, p_nonce, p_expires)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'replayed';
    END IF;
    IF p_limit > 0 THEN
        INSERT INTO rate_windows AS r (node_id, window_start, hits) VALUES (p_node, p_window, 1)
            ON CONFLICT (node_id, window_start) DO UPDATE SET hits = r.hits + 1
            RETURNING r.hits INTO v_hits;
        IF v_hits > p_limit THEN
            RETURN 'rate_limited';
        END IF;
    END IF;
    RETURN 'ok';
END;
$$;

CREATE OR REPLACE FUNCTION cairn_apply_batch(
    p_node text, p_store text,
    p_put_keys text[], p_put_versions bigint[], p_put_values bytea[],
    p_del_keys text[], p_del_versions bigint[],
    p_quota bigint,
    p_nonce text, p_expires bigint, p_window bigint, p_limit integer
) RETURNS TABLE (outcome text, generation bigint, cur_keys text[], cur_versions bigint[], used bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_gen bigint;
    v_objects bigint;
    v_bytes bigint;
    v_created boolean;
    v_conflict boolean;
    v_old_bytes bigint;
    v_old_count bigint;
    v_new_bytes bigint;
    v_keys text[];
    v_versions bigint[];
    v_claim text;
BEGIN
    IF p_nonce IS NOT NULL THEN
        v_claim := cairn_claim(p_node, p_nonce, p_expires, p_window, p_limit);
        IF v_claim <> 'ok' THEN
            RETURN QUERY SELECT v_claim, 0::bigint, NULL::text[], NULL::bigint[], 0::bigint;
            RETURN;
        END IF;
    END IF;
    -- The store row's lock serialises the batches of one store across every instance.
    -- A new store is inserted first; if another transaction creates (or deletes) it at the
    -- same moment, the loop locks whichever row exists once that one has committed.
    v_created := false;
    LOOP
        SELECT s.generation, s.objects, s.bytes INTO v_gen, v_objects, v_bytes
          FROM stores s WHERE s.node_id = p_node AND s.store_id = p_store FOR UPDATE;
        EXIT WHEN FOUND;
        INSERT INTO stores (node_id, store_id, generation, objects, bytes)
            VALUES (p_node, p_store, 0, 0, 0) ON CONFLICT DO NOTHING;
        v_created := FOUND;
    END LOOP;

    SELECT array_agg(k.key ORDER BY k.ord),
           array_agg(coalesce(o.version, 0) ORDER BY k.ord),
           coalesce(bool_or(coalesce(o.version, 0) <> k.version), false),
           coalesce(sum(o.size), 0),
           count(o.key)
      INTO v_keys, v_versions, v_conflict, v_old_bytes, v_old_count
      FROM unnest(p_put_keys || p_del_keys, p_put_versions || p_del_versions)
           WITH ORDINALITY AS k(key, version, ord)
      LEFT JOIN objects o
        ON o.node_id = p_node AND o.store_id = p_store AND o.key = k.key;

    IF v_conflict THEN
        IF v_created THEN
            DELETE FROM stores WHERE node_id = p_node AND store_id = p_store;
        END IF;
        RETURN QUERY SELECT 'conflict'::text, v_gen, v_keys, v_versions, v_bytes;
        RETURN;
    END IF;

    v_new_bytes := v_bytes - v_old_bytes
        + coalesce((SELECT sum(octet_length(x)) FROM unnest(p_put_values) AS x), 0);
    IF v_new_bytes > p_quota AND v_new_bytes > v_bytes THEN
        IF v_created THEN
            DELETE FROM stores WHERE node_id = p_node AND store_id = p_store;
        END IF;
        RETURN QUERY SELECT 'quota_exceeded'::text, v_gen, NULL::text[], NULL::bigint[], v_new_bytes;
        RETURN;
    END IF;

    IF cardinality(p_del_keys) > 0 THEN
        DELETE FROM objects
         WHERE node_id = p_node AND store_id = p_store AND key = ANY (p_del_keys);
    END IF;
    IF cardinality(p_put_keys) > 0 THEN
        INSERT INTO objects (node_id, store_id, key, version, size, value)
            SELECT p_node, p_store, u.k, u.v + 1, octet_length(u.val), u.val
              FROM unnest(p_put_keys, p_put_versions, p_put_values) AS u(k, v, val)
            ON CONFLICT (node_id, store_id, key) DO UPDATE
               SET version = excluded.version, size = excluded.size, value = excluded.value;
    END IF;
    UPDATE stores
       SET generation = v_gen + 1,
           objects = v_objects - v_old_count + cardinality(p_put_keys),
           bytes = v_new_bytes
     WHERE node_id = p_node AND store_id = p_store;
    RETURN QUERY SELECT 'ok'::text, v_gen + 1, NULL::text[], NULL::bigint[], v_new_bytes;
END;
$$;

-- Several batches in one transaction (group commit, pg_group.py): batch i's items are the
-- slices [start[i], start[i] + count[i] - 1] of the item arrays. Rows come back with idx = i.
CREATE OR REPLACE FUNCTION cairn_apply_batches(
    p_nodes text[], p_stores text[], p_quotas bigint[],
    p_nonces text[], p_expires bigint[], p_windows bigint[], p_limits integer[],
    p_put_start integer[], p_put_count integer[],
    p_put_keys text[], p_put_versions bigint[], p_put_values bytea[],
    p_del_start integer[], p_del_count integer[], p_del_keys text[], p_del_versions bigint[]
) RETURNS TABLE (
    idx integer, outcome text, generation bigint, cur_keys text[], cur_versions bigint[],
    used bigint
)
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    ps integer;
    pe integer;
    ds integer;
    de integer;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(p_nodes), 0) LOOP
        ps := p_put_start[i];
        pe := ps + p_put_count[i] - 1;
        ds := p_del_start[i];
        de := ds + p_del_count[i] - 1;
        RETURN QUERY SELECT i, b.* FROM cairn_apply_batch(
            p_nodes[i], p_stores[i],
            coalesce(p_put_keys[ps:pe], '{}'), coalesce(p_put_versions[ps:pe], '{}'),
            coalesce(p_put_values[ps:pe], '{}'),
            coalesce(p_del_keys[ds:de], '{}'), coalesce(p_del_versions[ds:de], '{}'),
            p_quotas[i], p_nonces[i], p_expires[i], p_windows[i], p_limits[i]) AS b;
    END LOOP;
END;
$$;
"""
