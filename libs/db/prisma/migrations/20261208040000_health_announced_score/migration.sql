-- A score is announced (health.changed) when its status changes or it moves more than a threshold
-- from the score last announced, not from the last one stored: a score drifting a few points per
-- computation would otherwise never be announced however far it went. Every status change is
-- announced, so the last announced status is always the stored one; only the score needs keeping.
-- Scores stored before this column were announced when they changed, as far as their threshold
-- allowed: they start from their stored score.

-- AlterTable
ALTER TABLE "health_scores" ADD COLUMN "announced_score" SMALLINT;
UPDATE "health_scores" SET "announced_score" = "score";
