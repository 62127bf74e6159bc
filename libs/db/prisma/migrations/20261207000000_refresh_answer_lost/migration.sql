-- When a refresh request was sent and its answer never arrived (timed out waiting, connection
-- reset): the provider may have rotated the refresh token. A grant refused on the next attempt is
-- then recorded as `rotation_lost` rather than as the user's revocation.
ALTER TABLE "connections" ADD COLUMN "refresh_answer_lost_at" TIMESTAMPTZ(3);
