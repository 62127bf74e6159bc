-- The email a message sends, fixed at its first attempt: sender, recipient, subject, HTML and text
-- parts and tags, as sent to the vendor under the message's idempotency key. Every later attempt
-- sends exactly this rather than rendering again from the live user, subject and settings, whose
-- changes between attempts (a rename, a new address) would give the same key another payload,
-- which Resend refuses (409) although the first email went out. Null until the first attempt
-- starts; a message still without one renders it then.

-- AlterTable
ALTER TABLE "notification_messages" ADD COLUMN "email" JSONB;
