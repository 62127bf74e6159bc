-- AlterTable
ALTER TABLE "connections" ADD COLUMN     "last_refresh_attempt_at" TIMESTAMPTZ(3),
ADD COLUMN     "refresh_claimed_by" TEXT,
ADD COLUMN     "refresh_claimed_until" TIMESTAMPTZ(3),
ADD COLUMN     "token_expires_never" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "connection_idempotency_keys" (
    "key" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "connection_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "connection_idempotency_keys_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "connection_idempotency_keys_created_at_idx" ON "connection_idempotency_keys"("created_at");

-- CreateIndex
CREATE INDEX "connections_refresh_due_idx" ON "connections"("access_token_expires_at") WHERE status IN ('connected', 'warning', 'rate_limited') AND revoked_at IS NULL;

-- AddForeignKey
ALTER TABLE "connection_idempotency_keys" ADD CONSTRAINT "connection_idempotency_keys_connection_id_fkey" FOREIGN KEY ("connection_id") REFERENCES "connections"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- ---------------------------------------------------------------------------------------------
-- Hand-written below this line: what the Prisma schema cannot express.
-- ---------------------------------------------------------------------------------------------

-- RecreateIndex: one connection per (user, provider, provider account) even when the provider
-- gives no account id. A plain unique index treats NULLs as distinct, so two rows with a NULL
-- provider_account_id for the same user and provider would both be accepted. Same name as
-- before, so Prisma Client's `userId_provider_providerAccountId` compound key still maps to it.
DROP INDEX "connections_user_id_provider_provider_account_id_key";
CREATE UNIQUE INDEX "connections_user_id_provider_provider_account_id_key" ON "connections"("user_id", "provider", "provider_account_id") NULLS NOT DISTINCT;
