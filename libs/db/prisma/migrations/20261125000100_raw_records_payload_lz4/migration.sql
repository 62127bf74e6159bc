-- Payloads over about 2 kB (Spotify's play history, GitHub's events) are compressed when stored.
-- lz4 compresses several times faster than Postgres's default pglz, which showed in the poller's
-- benchmark as the single largest function in Postgres. Only new values use it: existing ones are
-- read either way. A server built without lz4 keeps pglz (and says so).
DO $$
BEGIN
  ALTER TABLE "raw_records" ALTER COLUMN "payload" SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'this server has no lz4 support: raw_records.payload stays compressed with pglz';
END
$$;
