-- Content hashes are computed by Postgres from the stored jsonb now (its 64-bit jsonb hash, as 16
-- hex digits: see `contentHashSql` in services/poller/src/engine/records.repository.ts), instead of
-- by the poller from its own canonical JSON. Existing hashes are recomputed the same way, so the
-- next poll does not count every stored record as updated.
UPDATE "raw_records" SET "content_hash" = lpad(to_hex(jsonb_hash_extended("payload", 0)), 16, '0');
