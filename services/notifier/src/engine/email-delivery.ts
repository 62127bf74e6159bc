import { context, trace } from "@opentelemetry/api";
import { contextFromRecord, enqueueEvents } from "@syncwell/bus";
import { createEvent } from "@syncwell/contracts";
import { withTransaction } from "@syncwell/db";
import { BucketBlockedError, type RateLimiter } from "@syncwell/rate-limit";
import { Semaphore, sleep } from "@syncwell/runtime";
import { WakeLoop } from "@syncwell/runtime/wake-loop";
import {
  inSpan,
  type Logger,
  type RepeatedFailureLog,
  repeatedFailureLog,
  withoutTracing,
} from "@syncwell/telemetry";
import type pg from "pg";
import type { EmailProvider, EmailSendResult } from "../adapters/email/email-provider.ts";
import {
  composeEmail,
  type DeliveryStep,
  deliveryStep,
  type OutgoingEmail,
  type RetryPolicy,
} from "../domain/email-delivery.ts";
import {
  type ClaimedEmail,
  claimDueEmails,
  finishAttempt,
  releaseEmails,
  type StartedAttempt,
  settleMessage,
  startAttempt,
} from "../repositories/email-messages.repository.ts";

export type EmailDeliverySettings = {
  /** Sender of every email (`Name <address>`). */
  from: string;
  replyTo: string | undefined;
  /** Sends per second across every replica (the team's limit at the vendor). */
  ratePerSec: number;
  /** Messages claimed at once. */
  batchSize: number;
  /** Sends in flight at once in this replica. */
  concurrency: number;
  /** How long a claim holds a message before another replica may take it over. */
  leaseMs: number;
  /** How often a replica looks for due messages when nothing woke it. */
  pollIntervalMs: number;
  retry: RetryPolicy;
};

type Deps = {
  pool: pg.Pool;
  logger: Logger;
  provider: EmailProvider;
  limiter: RateLimiter;
  settings: EmailDeliverySettings;
  /** The envelope's `source` of `notification.delivered` (the service's name). */
  source: string;
  /** Unique per process: claim tokens are `<replicaId>/<n>`. */
  replicaId: string;
};

const tracer = trace.getTracer("notifier");

/** A retry's timer fires this much after its due time, so the database's clock has reached it too. */
const RETRY_TIMER_MARGIN_MS = 50;

/** What became of one claimed message: handled (whatever the outcome), or never started (a stop). */
type Handled = "handled" | "not_started";

/**
 * The email worker: claims due email messages (any number of replicas share them), composes each
 * message's email at its first attempt (stored on the message, sent as stored by every attempt)
 * and sends it with the message's id as the vendor's idempotency key, under the vendor's rate
 * limit shared by every replica (a Postgres token bucket), then records in one transaction the
 * attempt's audit row, the message's new state and, when it is final, `notification.delivered`
 * through the outbox.
 *
 * The key makes every repetition harmless: a retry, a message whose worker died after the send
 * and before the record, or a lease taken over while a send was in flight all send the same key
 * and the same stored email, and the vendor answers the first email's id without sending again.
 *
 * Woken by its interval (across replicas), by `nudge()` when this replica has just stored emails,
 * and by its own timer when a retry it scheduled comes due.
 */
export class EmailDelivery {
  private readonly deps: Deps;
  private readonly log: Logger;
  private readonly failures: RepeatedFailureLog;
  private readonly slots: Semaphore;
  private readonly bucketKey: string;
  private readonly stopController = new AbortController();
  private bucketConfigured: Promise<void> | undefined;
  private readonly loop: WakeLoop;
  private claims = 0;
  private interval: NodeJS.Timeout | undefined;
  private retryTimer: { at: number; timer: NodeJS.Timeout } | undefined;

  constructor(deps: Deps) {
    this.deps = deps;
    this.log = deps.logger.child({ component: "email-delivery" });
    this.loop = new WakeLoop({
      pass: () => this.drain(),
      stopped: () => this.stopping,
      // Looking for due messages makes no spans (an idle replica would send a trace every
      // interval); each message's delivery has its own (see deliverOne).
      wrap: (loop) => withoutTracing(loop),
    });
    this.failures = repeatedFailureLog(this.log, "delivering emails", {
      next: "trying again at the next wake-up",
    });
    this.slots = new Semaphore(deps.settings.concurrency);
    this.bucketKey = `email:${deps.provider.name}`;
  }

  start(): void {
    const { settings, provider } = this.deps;
    this.interval = setInterval(() => void this.wake(), settings.pollIntervalMs);
    this.interval.unref();
    void this.wake();
    this.log.info(
      { provider: provider.name, ratePerSec: settings.ratePerSec, concurrency: settings.concurrency },
      "email delivery started",
    );
  }

  /** Emails were just stored: look for due messages now rather than at the next interval. */
  nudge(): void {
    void this.wake();
  }

  /** Sends everything due now (and what comes due meanwhile); resolves when none is left. */
  flush(): Promise<void> {
    return this.loop.flush();
  }

  /** Stops claiming; messages not yet sent are handed back; sends in flight finish and are recorded. */
  async stop(): Promise<void> {
    if (this.stopController.signal.aborted) return;
    this.stopController.abort(new Error("email delivery stopping"));
    clearInterval(this.interval);
    clearTimeout(this.retryTimer?.timer);
    while (this.loop.running) await this.loop.running;
    this.log.info("email delivery stopped");
  }

  private get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  private wake(): Promise<void> {
    return this.loop.wake();
  }

  /** One pass: batches until nothing is due; a failure waits for the next wake-up. */
  private async drain(): Promise<undefined> {
    try {
      await this.configureBucket();
      let claimed: number;
      do claimed = await this.deliverBatch();
      while (claimed === this.deps.settings.batchSize && !this.stopping);
      this.failures.succeeded();
    } catch (err) {
      this.failures.failed(err);
    }
    return undefined;
  }

  /**
   * The team's send rate, shared by every replica. No burst: a bucket holding a second's worth
   * when idle would let through twice the rate in the second a backlog starts, and Resend counts
   * requests per second.
   */
  private configureBucket(): Promise<void> {
    const perSec = this.deps.settings.ratePerSec;
    this.bucketConfigured ??= this.deps.limiter
      .configure([{ key: this.bucketKey, perSec, burst: 1 }])
      .catch((err: unknown) => {
        this.bucketConfigured = undefined;
        throw err;
      });
    return this.bucketConfigured;
  }

  /** Claims one batch and handles each message of it; resolves to the number claimed. */
  private async deliverBatch(): Promise<number> {
    const { pool, settings, replicaId } = this.deps;
    const claimToken = `${replicaId}/${++this.claims}`;
    const claimed = await claimDueEmails(pool, {
      limit: settings.batchSize,
      leaseMs: settings.leaseMs,
      claimToken,
    });
    if (claimed.length === 0) return 0;
    this.log.debug({ claimed: claimed.length }, "email messages claimed");
    const handled = await Promise.all(claimed.map((m) => this.deliverOne(m, claimToken)));
    const unstarted = claimed.filter((_, i) => handled[i] === "not_started").map((m) => m.id);
    const released = await releaseEmails(pool, claimToken, unstarted);
    if (released > 0) this.log.info({ released }, "email messages handed back unsent (stopping)");
    return claimed.length;
  }

  private async deliverOne(m: ClaimedEmail, claimToken: string): Promise<Handled> {
    try {
      await this.slots.acquire(this.stopController.signal);
    } catch {
      return "not_started";
    }
    const attributes = { "syncwell.notification.id": m.notificationId, "syncwell.message.id": m.id };
    // Out of the untraced claim loop, into the trace of the event that created the message (the one
    // a tick started), so the trace runs from the tick to the email; notification.delivered
    // continues it. A message without a stored trace starts a trace of its own.
    return context.with(contextFromRecord(m.traceHeaders), () =>
      inSpan(tracer, "email deliver", { attributes }, () => this.send(m, claimToken)),
    );
  }

  /** Composes, waits its turn, starts the attempt, sends and records; gives the slot back. */
  private async send(m: ClaimedEmail, claimToken: string): Promise<Handled> {
    try {
      const email = this.emailOf(m);
      if (!email.ok) {
        await this.record(m, claimToken, null, { status: "failed", error: email.problem });
        return "handled";
      }
      if (!(await this.takeTurn())) return "not_started";
      const started = await startAttempt(this.deps.pool, {
        messageId: m.id,
        claimToken,
        leaseUntil: m.leaseUntil,
        leaseMs: this.deps.settings.leaseMs,
        provider: this.deps.provider.name,
        email: email.email,
      });
      if (started === null) {
        this.log.info({ messageId: m.id }, "email message taken over by another worker: left to it");
        return "handled";
      }
      // The email as the message stores it, never this claim's own composition: every attempt under
      // the key sends the same payload (see OutgoingEmail). Not aborted by a stop: a send that has
      // begun is awaited and recorded.
      const result = await this.deps.provider.send({ idempotencyKey: m.id, ...started.email });
      await this.recordAttempt(m, claimToken, started, result);
      return "handled";
    } catch (err) {
      // Its claim lapses and the message is due again; the same key makes a second send harmless.
      this.log.warn({ err, messageId: m.id }, "email message not recorded; due again when its lease ends");
      return "handled";
    } finally {
      this.slots.release();
    }
  }

  /** The email an earlier attempt stored, else one composed now; or why there is none to send. */
  private emailOf(m: ClaimedEmail): { ok: true; email: OutgoingEmail } | { ok: false; problem: string } {
    if (m.email !== null) return { ok: true, email: m.email };
    const { from, replyTo } = this.deps.settings;
    return composeEmail(m, { from, replyTo });
  }

  /**
   * Waits for this send's turn in the shared bucket; while the vendor asked everyone to wait (a
   * 429's Retry-After, from any replica), waits for that first. False when stopped meanwhile.
   */
  private async takeTurn(): Promise<boolean> {
    const { signal } = this.stopController;
    for (;;) {
      if (signal.aborted) return false;
      try {
        await this.deps.limiter.take(this.bucketKey, signal);
        return !signal.aborted;
      } catch (err) {
        if (signal.aborted) return false;
        if (!(err instanceof BucketBlockedError)) throw err;
        await sleep(err.waitMs + Math.floor(Math.random() * 50), signal);
      }
    }
  }

  private async recordAttempt(
    m: ClaimedEmail,
    claimToken: string,
    started: StartedAttempt,
    result: EmailSendResult,
  ): Promise<void> {
    const ageMs = Date.now() - m.createdAt.getTime();
    const step = deliveryStep(result, started.attempt, ageMs, this.deps.settings.retry);
    await this.record(m, claimToken, { started, result }, step);
    if (result.outcome === "retryable" && result.retryAfterMs !== undefined) {
      // The vendor's limit is the team's: every replica waits, not only this message.
      await this.deps.limiter
        .block(this.bucketKey, result.retryAfterMs)
        .catch((err: unknown) => this.log.warn({ err }, "could not pause the email rate limit bucket"));
    }
    if (step.status === "pending") this.wakeIn(step.delayMs);
  }

  /**
   * One transaction: the attempt's audit row (when there was one), the message's state if this
   * claim still holds it, and `notification.delivered` when that state is final.
   */
  private async record(
    m: ClaimedEmail,
    claimToken: string,
    attempt: { started: StartedAttempt; result: EmailSendResult } | null,
    step: DeliveryStep,
  ): Promise<void> {
    const attempts = attempt?.started.attempt ?? m.attempts;
    const settled = await withTransaction(this.deps.pool, async (tx) => {
      if (attempt !== null) await finishAttempt(tx, auditOf(attempt.started, attempt.result));
      const written = await settleMessage(tx, { messageId: m.id, attempt: attempts, claimToken }, step);
      if (written && step.status !== "pending") {
        await enqueueEvents(tx, this.deliveredEvent(m, step, attempts));
      }
      return written;
    });
    const fields = {
      messageId: m.id,
      notificationId: m.notificationId,
      kind: m.kind,
      attempt: attempts,
      httpStatus: attempt?.result.outcome === "sent" ? 200 : (attempt?.result.httpStatus ?? null),
      ...(step.status === "sent" && { providerMessageId: step.providerMessageId }),
      ...(step.status === "pending" && { retryInMs: step.delayMs, error: step.error }),
      ...(step.status === "failed" && { error: step.error }),
    };
    if (!settled)
      this.log.info(fields, "email attempt recorded; its message was taken over by another worker");
    else if (step.status === "failed") this.log.warn(fields, "email failed");
    else this.log.info(fields, step.status === "sent" ? "email sent" : "email send failed; retrying later");
  }

  private deliveredEvent(
    m: ClaimedEmail,
    step: Exclude<DeliveryStep, { status: "pending" }>,
    attempts: number,
  ) {
    return createEvent(
      "notification.delivered",
      {
        notificationId: m.notificationId,
        userId: m.userId,
        kind: m.kind,
        channel: "email",
        dedupKey: m.dedupKey,
        status: step.status,
        attempts,
        ...(step.status === "sent" ? { providerMessageId: step.providerMessageId } : { error: step.error }),
      },
      { source: this.deps.source },
    );
  }

  /** A retry this replica scheduled: wakes when it comes due (other replicas find it at their interval). */
  private wakeIn(delayMs: number): void {
    const at = Date.now() + delayMs;
    if (this.stopping || (this.retryTimer !== undefined && this.retryTimer.at <= at)) return;
    clearTimeout(this.retryTimer?.timer);
    const timer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.wake();
    }, delayMs + RETRY_TIMER_MARGIN_MS);
    timer.unref();
    this.retryTimer = { at, timer };
  }
}

/** The attempt's audit row; a sent email was Resend's 200 (the provider reports no status on success). */
function auditOf(started: StartedAttempt, result: EmailSendResult) {
  return result.outcome === "sent"
    ? {
        attemptId: started.attemptId,
        outcome: result.outcome,
        httpStatus: 200,
        providerMessageId: result.providerMessageId,
        error: null,
      }
    : {
        attemptId: started.attemptId,
        outcome: result.outcome,
        httpStatus: result.httpStatus,
        providerMessageId: null,
        error: result.reason,
      };
}
