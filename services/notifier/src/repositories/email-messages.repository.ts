import { uuidv7 } from "@syncwell/contracts";
import type { Queryable } from "@syncwell/db";
import type { DeliveryStep, OutgoingEmail } from "../domain/email-delivery.ts";
import type { NotificationFacts } from "../domain/notifications.ts";

/**
 * The email worker's rows: pending email messages (`notification_messages`) claimed across
 * replicas with `FOR UPDATE SKIP LOCKED`, and one audit row per try
 * (`notification_delivery_attempts`).
 *
 * A claim sets `status = 'sending'`, `next_attempt_at = now() + lease` and `claimed_by = <claim
 * token>` (unique per claim batch) in one statement; a message whose lease ran out while sending is
 * due again and is claimed anew. Every later write names the claim it holds: starting an attempt
 * checks the token and the lease it was given, and the attempt's number fences the outcome, so a
 * worker whose lease was taken over changes nothing but its own audit row.
 *
 * The first attempt to start stores the message's email (`email`); every later claim gets it back
 * and sends it as stored (see OutgoingEmail).
 */

/** A claimed email message: its stored email, or what its email is composed from when it has none. */
export type ClaimedEmail = {
  id: string;
  /** The lease this claim holds (`next_attempt_at`), checked when the attempt starts. */
  leaseUntil: Date;
  /** Attempts made before this claim. */
  attempts: number;
  toAddress: string | null;
  createdAt: Date;
  notificationId: string;
  userId: string;
  kind: string;
  dedupKey: string;
  body: string;
  link: string | null;
  facts: NotificationFacts;
  recipientName: string | null;
  subjectName: string | null;
  /** Trace context of the event that created the message; empty for messages stored before it was kept. */
  traceHeaders: Record<string, string>;
  /** The email fixed by an earlier attempt; null until an attempt has started. */
  email: OutgoingEmail | null;
};

export type EmailClaimOptions = { limit: number; leaseMs: number; claimToken: string };

/**
 * Claims up to `limit` due email messages, longest due first (`notification_messages_due_idx`):
 * pending ones whose time has come, and sending ones whose worker's lease ran out.
 */
export async function claimDueEmails(db: Queryable, options: EmailClaimOptions): Promise<ClaimedEmail[]> {
  const { rows } = await db.query<ClaimedEmail>(
    `WITH picked AS (
       SELECT id FROM notification_messages
       WHERE status IN ('pending', 'sending') AND next_attempt_at <= now() AND channel = 'email'
       ORDER BY next_attempt_at
       LIMIT $1
       FOR UPDATE SKIP LOCKED
     )
     UPDATE notification_messages m
     SET status = 'sending', next_attempt_at = now() + make_interval(secs => $2::float8 / 1000),
         claimed_by = $3, updated_at = now()
     FROM picked, notifications n
       JOIN users u ON u.id = n.user_id
       LEFT JOIN contacts c ON n.subject_type = 'contact' AND c.id = n.subject_id
       LEFT JOIN deals d ON n.subject_type = 'deal' AND d.id = n.subject_id
       LEFT JOIN connections k ON n.subject_type = 'connection' AND k.id = n.subject_id
     WHERE m.id = picked.id AND n.id = m.notification_id
     RETURNING m.id::text, m.next_attempt_at AS "leaseUntil", m.attempts, m.to_address AS "toAddress",
               m.created_at AS "createdAt", n.id::text AS "notificationId", n.user_id::text AS "userId",
               n.kind, n.dedup_key AS "dedupKey", n.body, n.link, n.data AS facts,
               u.name AS "recipientName",
               coalesce(nullif(c.name, ''), c.email, d.name, k.provider) AS "subjectName",
               m.trace_headers AS "traceHeaders", m.email`,
    [options.limit, options.leaseMs, options.claimToken],
  );
  return rows;
}

/** An attempt begun: its audit row, its number (which fences the outcome) and the email to send. */
export type StartedAttempt = { attemptId: string; attempt: number; email: OutgoingEmail };

/**
 * Starts the next attempt of a message this claim still holds: counts it, renews the lease for
 * the send, stores `email` unless the message already has one, and writes the audit row (started,
 * not finished). Returns the message's email as stored, which is what the attempt sends: the
 * store comes before the send, so a crash between them leaves an email that was fixed but not sent,
 * and the next attempt sends that one. Null when the claim was lost.
 */
export async function startAttempt(
  db: Queryable,
  claim: {
    messageId: string;
    claimToken: string;
    leaseUntil: Date;
    leaseMs: number;
    provider: string;
    email: OutgoingEmail;
  },
): Promise<StartedAttempt | null> {
  const { rows } = await db.query<StartedAttempt>(
    `WITH started AS (
       UPDATE notification_messages
       SET attempts = attempts + 1, provider = $5, updated_at = now(),
           next_attempt_at = now() + make_interval(secs => $4::float8 / 1000),
           email = coalesce(email, $7::jsonb)
       WHERE id = $1 AND status = 'sending' AND claimed_by = $2 AND next_attempt_at = $3
       RETURNING id, attempts, email
     ),
     audit AS (
       INSERT INTO notification_delivery_attempts (id, message_id, attempt, provider)
       SELECT $6, id, attempts, $5 FROM started
       RETURNING id, attempt
     )
     SELECT audit.id::text AS "attemptId", audit.attempt, started.email FROM audit, started`,
    [
      claim.messageId,
      claim.claimToken,
      claim.leaseUntil,
      claim.leaseMs,
      claim.provider,
      uuidv7(),
      JSON.stringify(claim.email),
    ],
  );
  return rows[0] ?? null;
}

/** Hands back claimed messages no attempt was started on (a stop): due again at once, for any replica. */
export async function releaseEmails(
  db: Queryable,
  claimToken: string,
  messageIds: readonly string[],
): Promise<number> {
  if (messageIds.length === 0) return 0;
  const { rowCount } = await db.query(
    `UPDATE notification_messages SET status = 'pending', next_attempt_at = now(), claimed_by = NULL,
       updated_at = now()
     WHERE id = ANY($1::uuid[]) AND status = 'sending' AND claimed_by = $2`,
    [messageIds, claimToken],
  );
  return rowCount ?? 0;
}

/** How an attempt ended, for its audit row. */
export type AttemptOutcome = {
  attemptId: string;
  outcome: "sent" | "retryable" | "rejected";
  httpStatus: number | null;
  providerMessageId: string | null;
  error: string | null;
};

export async function finishAttempt(db: Queryable, o: AttemptOutcome): Promise<void> {
  await db.query(
    `UPDATE notification_delivery_attempts
     SET finished_at = now(), outcome = $2, http_status = $3, provider_message_id = $4, error = $5
     WHERE id = $1`,
    [o.attemptId, o.outcome, o.httpStatus, o.providerMessageId, o.error],
  );
}

/**
 * Writes a message's state after attempt number `attempt`, if this claim still holds it and no
 * later attempt has begun (a message failed without an attempt passes the count it was claimed
 * with). Returns whether it was written.
 */
export async function settleMessage(
  db: Queryable,
  fence: { messageId: string; attempt: number; claimToken: string },
  outcome: DeliveryStep,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE notification_messages
     SET status = $4, claimed_by = NULL, updated_at = now(),
         next_attempt_at = CASE WHEN $4 = 'pending' THEN now() + make_interval(secs => $5::float8 / 1000) END,
         provider_message_id = coalesce($6, provider_message_id),
         sent_at = CASE WHEN $4 = 'sent' THEN now() ELSE sent_at END,
         last_error = $7
     WHERE id = $1 AND status = 'sending' AND attempts = $2 AND claimed_by = $3`,
    [
      fence.messageId,
      fence.attempt,
      fence.claimToken,
      outcome.status,
      outcome.status === "pending" ? outcome.delayMs : null,
      outcome.status === "sent" ? outcome.providerMessageId : null,
      outcome.status === "sent" ? null : outcome.error,
    ],
  );
  return rowCount === 1;
}
