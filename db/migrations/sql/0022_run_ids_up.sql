-- Run ids in time order (issue 13, app/domain/run_ids.py).
--
-- The history's primary key leads with the run's id. Random ids (gen_random_uuid, version 4)
-- put each new run, and each finish's new row version, on a random leaf page of an index
-- that grows all day; ids that start with their creation instant are appended at its right
-- edge. The dispatcher makes its runs' ids itself (run_id); this function makes the same
-- kind for every other run the insert makes (skipped and missed slots, manual runs,
-- backfills). Existing ids stay as they are: the two kinds never collide (their version
-- nibbles differ). The column's default stays gen_random_uuid(): only hand-written inserts
-- use it, and changing it would take the history's ACCESS EXCLUSIVE lock.
--
-- RFC 9562 version 7: 48 bits of Unix milliseconds, then a random UUID's last ten bytes
-- with its version nibble turned from 4 into 7 (bits 4 and 5 of that byte set; bit 6 already
-- is, bit 7 is not), its variant bits left as they are. One expression, no FROM: inlined.
CREATE FUNCTION wfs_run_id(made_at timestamptz) RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(
        substring(int8send(floor(extract(epoch FROM made_at) * 1000)::bigint) FROM 3)
        || set_bit(set_bit(substring(uuid_send(gen_random_uuid()) FROM 7), 4, 1), 5, 1),
        'hex')::uuid
$$;
