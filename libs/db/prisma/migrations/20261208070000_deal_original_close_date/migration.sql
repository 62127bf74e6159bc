-- Close-date slippage counts how far a deal's close date was moved later than first set, so the
-- first close date is kept beside the current one: set with the first close date, kept while the
-- close date moves (earlier or later), cleared with it; the next close date set is a new first one.
-- The writers keep that rule; the CHECK keeps the two columns set together. A deal's close date
-- before this column is the only one known: it starts as its own original.

-- AlterTable
ALTER TABLE "deals" ADD COLUMN "original_expected_close_at" TIMESTAMPTZ(3);
UPDATE "deals" SET "original_expected_close_at" = "expected_close_at";

-- AddCheckConstraint: an original close date exactly when there is a close date.
ALTER TABLE "deals" ADD CONSTRAINT "deals_original_expected_close_at_check" CHECK (("original_expected_close_at" IS NULL) = ("expected_close_at" IS NULL));
