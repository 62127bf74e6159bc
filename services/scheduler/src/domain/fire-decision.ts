/**
 * Whether to fire a schedule now, and for which slot. Pure: the runner gathers the inputs (the
 * latest slot from the cron expression, the last run from job_runs) and acts on the answer.
 *
 * Only the latest slot at or before now is ever fired: after downtime the missed slots collapse
 * into one tick, never one per missed slot. That also bounds the look-back by construction: the
 * latest slot is always less than one period old (a weekly digest is never caught up from before
 * the current week), and `maxCatchUpAgeMs` can bound it further.
 */

export type FireInput = {
  /** Latest slot at or before `now`; null when the expression has none. */
  latestSlot: Date | null;
  /** The slot the timer was armed for; null on start-up (nothing was waited for). */
  expectedSlot: Date | null;
  /** Slot of the schedule's latest scheduled (non-manual) run in job_runs; null when it never ran. */
  lastRunSlot: Date | null;
  /** First slot after `lastRunSlot` by the current expression; null when unknown. */
  slotAfterLastRun: Date | null;
  now: Date;
  /** A slot fired later than this after its time counts as late (catch-up). */
  lateAfterMs: number;
  /** Late slots older than this are not caught up; undefined for no bound beyond one period. */
  maxCatchUpAgeMs?: number | undefined;
};

export type SkipReason =
  /** The expression has no slot at or before now (e.g. a year that has not come). */
  | "no_slot"
  /** A run for this slot (or a later one) exists: another replica, or this one, fired it. */
  | "already_ran"
  /** First start of a schedule that never ran, and its latest slot is not current: nothing was missed. */
  | "no_history"
  /** The missed slot is older than the catch-up bound. */
  | "too_old";

export type FireDecision =
  | {
      fire: true;
      slot: Date;
      /** True when the tick is late or stands for slots that were skipped (downtime, a stalled process). */
      catchUp: boolean;
    }
  | { fire: false; reason: SkipReason; slot: Date | null };

export function decideFire(input: FireInput): FireDecision {
  const { latestSlot, expectedSlot, lastRunSlot, slotAfterLastRun, now } = input;
  if (!latestSlot) return { fire: false, reason: "no_slot", slot: null };
  if (lastRunSlot && lastRunSlot.getTime() >= latestSlot.getTime()) {
    return { fire: false, reason: "already_ran", slot: latestSlot };
  }
  const ageMs = now.getTime() - latestSlot.getTime();
  const late = ageMs > input.lateAfterMs;
  // A schedule that never ran has missed nothing on its first start (a new deployment must not send
  // this week's digest at once); a timer that was waiting has seen the slot come, so it does fire.
  if (late && !lastRunSlot && !expectedSlot) return { fire: false, reason: "no_history", slot: latestSlot };
  if (late && input.maxCatchUpAgeMs !== undefined && ageMs > input.maxCatchUpAgeMs) {
    return { fire: false, reason: "too_old", slot: latestSlot };
  }
  const skippedSinceLastRun =
    lastRunSlot !== null && slotAfterLastRun !== null && slotAfterLastRun.getTime() < latestSlot.getTime();
  const skippedSinceArmed = expectedSlot !== null && expectedSlot.getTime() < latestSlot.getTime();
  return { fire: true, slot: latestSlot, catchUp: late || skippedSinceLastRun || skippedSinceArmed };
}
