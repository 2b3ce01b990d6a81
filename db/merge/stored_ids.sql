-- Which of a chunk's event ids raw_events holds already (stored by an earlier batch, or an
-- earlier chunk of this one): those copies are duplicates and are not stored again.
-- The ids come as one bytea of 16-byte uuids (no per-id parameter to build or parse) and go
-- back as 16-byte values.
SELECT uuid_send(event_id)
FROM raw_events
WHERE event_id = ANY (ARRAY(
    SELECT encode(substring(%(ids)b::bytea FROM i * 16 + 1 FOR 16), 'hex')::uuid
    FROM generate_series(0, length(%(ids)b::bytea) / 16 - 1) AS i
))
