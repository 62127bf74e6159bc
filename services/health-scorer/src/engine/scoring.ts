import { type AnyEvent, createEvent, type HealthSubjectKind } from "@syncwell/contracts";
import type { Logger } from "@syncwell/telemetry";
import type pg from "pg";
import type { ScoringSettings } from "../config.ts";
import { connectionHealth } from "../domain/connection-health.ts";
import { dealHealth } from "../domain/deal-health.ts";
import { relationshipHealth } from "../domain/relationship-health.ts";
import {
  type Announced,
  type Component,
  componentScores,
  type HealthScore,
  shouldAnnounce,
} from "../domain/score.ts";
import {
  loadConnectionInputs,
  loadContactInputs,
  loadDealInputs,
  type WriteOutcome,
  writeScore,
} from "../repositories/scores.repository.ts";

export const EVENT_SOURCE = "health-scorer";

/** What scoring one subject did: not found (deleted, or a closed deal: nothing to score), or the write's outcome. */
export type ScoreOutcome = WriteOutcome | { written: false; reason: "not_found" };

export type Subject = { subjectType: HealthSubjectKind; subjectId: string };

/** What scoring a batch did; one subject's failure is counted in `errors`, never stops the others. */
export type BatchCounts = { refreshed: number; changed: number; announced: number; errors: number };

export function emptyBatchCounts(): BatchCounts {
  return { refreshed: 0, changed: 0, announced: 0, errors: 0 };
}

const REASON_MAX = 500;

/**
 * The reason a person reads in `health.changed`: the status move, then what weighs most on the
 * score (the counted component with the lowest rating).
 */
function reasonOf(previous: Announced | null, next: Announced, components: readonly Component[]): string {
  const move =
    previous === null
      ? `first score ${next.score} (${next.status})`
      : previous.status !== next.status
        ? `${previous.status} to ${next.status}, score ${previous.score} to ${next.score}`
        : `score ${previous.score} to ${next.score} (${next.status})`;
  const counted = components.filter((c) => c.score !== null && c.weight > 0);
  const worst = counted.reduce<Component | null>(
    (acc, c) => (acc === null || (c.score ?? 1) < (acc.score ?? 1) ? c : acc),
    null,
  );
  const text = worst ? `${move}: ${worst.detail}` : move;
  return text.length > REASON_MAX ? `${text.slice(0, REASON_MAX - 1)}…` : text;
}

/**
 * Scores subjects from their current rows: the same rows give the same score, so every entry point
 * (events, the sweep) may run any number of times; a write is announced only when `shouldAnnounce`
 * says so against the stored score.
 */
export class HealthScoring {
  private readonly pool: pg.Pool;
  readonly settings: ScoringSettings;
  private readonly logger: Logger;
  private readonly clock: () => number;

  constructor(pool: pg.Pool, settings: ScoringSettings, logger: Logger, clock: () => number = Date.now) {
    this.pool = pool;
    this.settings = settings;
    this.logger = logger;
    this.clock = clock;
  }

  async scoreConnection(connectionId: string): Promise<ScoreOutcome> {
    const now = this.clock();
    const inputs = await loadConnectionInputs(this.pool, connectionId);
    if (!inputs) return { written: false, reason: "not_found" };
    const health = connectionHealth(
      {
        now,
        status: inputs.status,
        accessTokenExpiresAt: inputs.accessTokenExpiresAt?.getTime() ?? null,
        tokenExpiresNever: inputs.tokenExpiresNever,
        failures: inputs.failures,
        transientFailures: inputs.transientFailures,
        lastSyncedAt: inputs.lastSyncedAt?.getTime() ?? null,
        connectedAt: inputs.connectedAt.getTime(),
        rateLimitedUntil: inputs.rateLimitedUntil?.getTime() ?? null,
      },
      this.settings.connection,
    );
    return this.write("connection", connectionId, inputs.userId, inputs.inputsAsOf, now, health);
  }

  async scoreContact(contactId: string): Promise<ScoreOutcome> {
    const now = this.clock();
    const { windowDays } = this.settings.relationship;
    const inputs = await loadContactInputs(this.pool, contactId, { now: new Date(now), windowDays });
    if (!inputs) return { written: false, reason: "not_found" };
    const health = relationshipHealth(
      {
        now,
        interactions: inputs.interactions,
        baselinePer30Days: inputs.baselinePer30Days,
        meetingBaselinePer30Days: inputs.meetingBaselinePer30Days,
        lastInteractionAt: inputs.lastInteractionAt?.getTime() ?? null,
      },
      this.settings.relationship,
    );
    return this.write("contact", contactId, inputs.userId, inputs.inputsAsOf, now, health);
  }

  /** Open deals only: a won or lost deal has no health to keep (its last score stays as it was). */
  async scoreDeal(dealId: string): Promise<ScoreOutcome> {
    const now = this.clock();
    const inputs = await loadDealInputs(this.pool, dealId, new Date(now));
    if (!inputs || inputs.status !== "open") return { written: false, reason: "not_found" };
    const health = dealHealth(
      {
        now,
        stage: inputs.stage,
        stageEnteredAt: inputs.stageEnteredAt.getTime(),
        lastActivityAt: inputs.lastActivityAt?.getTime() ?? null,
        closeAt: inputs.expectedCloseAt?.getTime() ?? null,
      },
      this.settings.deal,
    );
    return this.write("deal", dealId, inputs.userId, inputs.inputsAsOf, now, health);
  }

  score(subject: Subject): Promise<ScoreOutcome> {
    switch (subject.subjectType) {
      case "connection":
        return this.scoreConnection(subject.subjectId);
      case "contact":
        return this.scoreContact(subject.subjectId);
      case "deal":
        return this.scoreDeal(subject.subjectId);
    }
  }

  /**
   * Scores each subject in turn; a subject that fails (bad data, a constraint) is logged, counted
   * and reported in `onError`, and the rest go on.
   */
  async scoreBatch(
    subjects: readonly Subject[],
    onError?: (subject: Subject, error: Error) => void,
  ): Promise<BatchCounts> {
    const counts = emptyBatchCounts();
    for (const subject of subjects) {
      try {
        const outcome = await this.score(subject);
        if (outcome.written) {
          counts.refreshed++;
          if (outcome.changed) counts.changed++;
          if (outcome.announced) counts.announced++;
        }
      } catch (err) {
        counts.errors++;
        const error = err instanceof Error ? err : new Error(String(err));
        this.logger.warn({ ...subject, err: error }, "scoring a subject failed");
        onError?.(subject, error);
      }
    }
    return counts;
  }

  private async write(
    kind: HealthSubjectKind,
    subjectId: string,
    userId: string,
    inputsAsOf: Date,
    now: number,
    health: HealthScore<string>,
  ): Promise<WriteOutcome> {
    const next = { score: health.score, status: health.status };
    const announce = (previous: Announced | null): AnyEvent | null => {
      if (!shouldAnnounce(previous, next, this.settings.announceThreshold)) return null;
      return createEvent(
        "health.changed",
        {
          subjectKind: kind,
          subjectId,
          userId,
          previousStatus: previous?.status ?? null,
          status: health.status,
          score: health.score,
          previousScore: previous?.score ?? null,
          components: componentScores(health.components),
          reason: reasonOf(previous, next, health.components),
        } as Parameters<typeof createEvent<"health.changed">>[1],
        { source: EVENT_SOURCE },
      );
    };
    return writeScore(
      this.pool,
      {
        subjectType: kind,
        subjectId,
        userId,
        score: health.score,
        status: health.status,
        components: health.components,
        inputsFrom: new Date(health.window.from),
        inputsTo: new Date(health.window.to),
        inputsAsOf,
        computedAt: new Date(now),
      },
      announce,
    );
  }
}
