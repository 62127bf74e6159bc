import type { Context } from "@opentelemetry/api";
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
  type ConnectionInputs,
  type ContactInputs,
  type DealInputs,
  loadConnectionInputs,
  loadConnectionsInputs,
  loadContactInputs,
  loadContactsInputs,
  loadDealInputs,
  loadDealsInputs,
  openDealsOfContacts,
  type ScoreWrite,
  type SweepMarks,
  subjectKey,
  type WriteOutcome,
  writeScore,
  writeScores,
} from "../repositories/scores.repository.ts";

export const EVENT_SOURCE = "health-scorer";

/** What scoring one subject did: not found (deleted, or a closed deal: nothing to score), or the write's outcome. */
export type ScoreOutcome = WriteOutcome | { written: false; reason: "not_found" };

export type Subject = { subjectType: HealthSubjectKind; subjectId: string };

export type BatchOptions = {
  /** Told of each subject that failed (the sweep records it on the score). */
  onError?: (subject: Subject, error: Error) => void;
  /** The trace context of what made the subject stale: its health.changed continues that trace. */
  causeOf?: (subject: Subject) => Context | undefined;
  /**
   * The sweep's marks, written with each score the batch stores (SweepMarks); `onSwept` is told of
   * each subject stored with them. The others (failed, not written) are the sweep's to mark.
   */
  sweep?: { marks: SweepMarks; onSwept: (subject: Subject) => void };
  /** The subjects have no score yet, as far as the caller knows (writeScores' `firstScores`). */
  firstScores?: boolean;
};

/** The subjects, each once, in their first order. */
function distinct(subjects: readonly Subject[]): Subject[] {
  const seen = new Set<string>();
  return subjects.filter((subject) => {
    const key = subjectKey(subject);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

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
 * says so against the score last announced.
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

  scoreConnection(connectionId: string): Promise<ScoreOutcome> {
    return this.scoreOne({ subjectType: "connection", subjectId: connectionId });
  }

  scoreContact(contactId: string): Promise<ScoreOutcome> {
    return this.scoreOne({ subjectType: "contact", subjectId: contactId });
  }

  /** Open deals only: a won or lost deal has no health to keep (its last score stays as it was). */
  scoreDeal(dealId: string): Promise<ScoreOutcome> {
    return this.scoreOne({ subjectType: "deal", subjectId: dealId });
  }

  score(subject: Subject): Promise<ScoreOutcome> {
    return this.scoreOne(subject);
  }

  private async scoreOne(subject: Subject): Promise<ScoreOutcome> {
    const computed = await this.compute(subject);
    if (!computed) return { written: false, reason: "not_found" };
    return writeScore(this.pool, computed.write, (previous) => this.announcement(computed, previous));
  }

  /**
   * Scores what a write changed (`scoreBatch`) and the open deals of its contacts with them: a
   * deal's activity is its contacts' communication, which a contact's new address changes.
   */
  async scoreWithDeals(subjects: readonly Subject[]): Promise<BatchCounts> {
    const contacts = subjects.filter((s) => s.subjectType === "contact").map((s) => s.subjectId);
    const deals = await openDealsOfContacts(this.pool, contacts);
    return this.scoreBatch([
      ...subjects,
      ...deals.map(({ dealId }): Subject => ({ subjectType: "deal", subjectId: dealId })),
    ]);
  }

  /**
   * Scores the subjects (each once), computing each from its rows and storing them in one
   * transaction; a subject that fails (bad data, a constraint) is logged, counted and reported in
   * `onError`, and the rest go on: when the batch's write fails, its subjects are written one by one.
   * `causeOf` names the trace each subject's announcement continues (the event that made it stale);
   * without it, the current one.
   */
  async scoreBatch(subjects: readonly Subject[], options: BatchOptions = {}): Promise<BatchCounts> {
    const counts = emptyBatchCounts();
    const failed = (subject: Subject, err: unknown) => {
      counts.errors++;
      const error = err instanceof Error ? err : new Error(String(err));
      this.logger.warn({ ...subject, err: error }, "scoring a subject failed");
      options.onError?.(subject, error);
    };
    const add = (outcome: ScoreOutcome) => {
      if (!outcome.written) return;
      counts.refreshed++;
      if (outcome.changed) counts.changed++;
      if (outcome.announced) counts.announced++;
    };
    const computed = await this.computeAll(distinct(subjects), failed);
    const byKey = new Map(computed.map((c) => [subjectKey(c.write), c]));
    const causes = new WeakMap<AnyEvent, Context>();
    const announce = (c: Computed, previous: Announced | null) => {
      const event = this.announcement(c, previous);
      const cause = event && options.causeOf?.(c.write);
      if (event && cause) causes.set(event, cause);
      return event;
    };
    const contextOf = (event: AnyEvent) => causes.get(event);
    try {
      const writes = computed.map((c) => c.write);
      const outcomes = await writeScores(
        this.pool,
        writes,
        (write, previous) => {
          const c = byKey.get(subjectKey(write));
          return c ? announce(c, previous) : null;
        },
        {
          contextOf,
          ...(options.sweep && { sweep: options.sweep.marks }),
          ...(options.firstScores && { firstScores: true }),
        },
      );
      outcomes.forEach((outcome, i) => {
        add(outcome);
        const write = writes[i];
        if (outcome.written && write) options.sweep?.onSwept(write);
      });
    } catch (batchError) {
      this.logger.debug(
        { err: batchError, subjects: computed.length },
        "batch write failed; writing one by one",
      );
      for (const c of computed) {
        try {
          add(await writeScore(this.pool, c.write, (previous) => announce(c, previous), { contextOf }));
        } catch (err) {
          failed({ subjectType: c.write.subjectType, subjectId: c.write.subjectId }, err);
        }
      }
    }
    return counts;
  }

  /** Each subject's score from its rows, read ahead per kind at one instant for the whole batch. */
  private async computeAll(
    unique: readonly Subject[],
    failed: (subject: Subject, err: unknown) => void,
  ): Promise<Computed[]> {
    const now = this.clock();
    const preloaded = await this.preload(unique, now);
    const computed: Computed[] = [];
    for (const subject of unique) {
      try {
        const one = await this.compute(subject, now, preloaded);
        if (one) computed.push(one);
      } catch (err) {
        failed(subject, err);
      }
    }
    return computed;
  }

  /** The score of one subject from its current rows; null when there is nothing to score. */
  /**
   * Reads the inputs of a batch's contacts and deals in one statement per kind. When a read fails
   * (one bad row fails the statement), that kind is read one by one, so the others still score.
   */
  private async preload(subjects: readonly Subject[], now: number): Promise<Preloaded> {
    const ids = (kind: HealthSubjectKind) =>
      subjects.filter((s) => s.subjectType === kind).map((s) => s.subjectId);
    const attempt = async <T>(kind: string, list: string[], read: () => Promise<T>) => {
      if (list.length < 2) return undefined;
      try {
        return await read();
      } catch (err) {
        this.logger.debug({ err, kind, subjects: list.length }, "batch read failed; reading one by one");
        return undefined;
      }
    };
    const at = new Date(now);
    const connectionIds = ids("connection");
    const contactIds = ids("contact");
    const dealIds = ids("deal");
    return {
      connections: await attempt("connection", connectionIds, () =>
        loadConnectionsInputs(this.pool, connectionIds),
      ),
      contacts: await attempt("contact", contactIds, () =>
        loadContactsInputs(this.pool, contactIds, {
          now: at,
          windowDays: this.settings.relationship.windowDays,
        }),
      ),
      deals: await attempt("deal", dealIds, () => loadDealsInputs(this.pool, dealIds, at)),
    };
  }

  private async compute(
    subject: Subject,
    now: number = this.clock(),
    preloaded: Preloaded = {},
  ): Promise<Computed | null> {
    const at = new Date(now);
    const { subjectId } = subject;
    switch (subject.subjectType) {
      case "connection": {
        const inputs = preloaded.connections
          ? (preloaded.connections.get(subjectId) ?? null)
          : await loadConnectionInputs(this.pool, subjectId);
        if (!inputs) return null;
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
        return computed(subject, inputs.userId, inputs.inputsAsOf, at, health);
      }
      case "contact": {
        const { windowDays } = this.settings.relationship;
        const inputs = preloaded.contacts
          ? (preloaded.contacts.get(subjectId) ?? null)
          : await loadContactInputs(this.pool, subjectId, { now: at, windowDays });
        if (!inputs) return null;
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
        return computed(subject, inputs.userId, inputs.inputsAsOf, at, health);
      }
      case "deal": {
        const inputs = preloaded.deals
          ? preloaded.deals.get(subjectId)
          : await loadDealInputs(this.pool, subjectId, at);
        if (inputs?.status !== "open") return null;
        const health = dealHealth(
          {
            now,
            stage: inputs.stage,
            stageEnteredAt: inputs.stageEnteredAt.getTime(),
            lastActivityAt: inputs.lastActivityAt?.getTime() ?? null,
            closeAt: inputs.expectedCloseAt?.getTime() ?? null,
            originalCloseAt: inputs.originalExpectedCloseAt?.getTime() ?? null,
          },
          this.settings.deal,
        );
        return computed(subject, inputs.userId, inputs.inputsAsOf, at, health);
      }
    }
  }

  /** `health.changed` for a stored score when `shouldAnnounce` says so against the last announced one. */
  private announcement(c: Computed, previous: Announced | null): AnyEvent | null {
    const { write, health } = c;
    const next = { score: health.score, status: health.status };
    if (!shouldAnnounce(previous, next, this.settings.announceThreshold)) return null;
    return createEvent(
      "health.changed",
      {
        subjectKind: write.subjectType,
        subjectId: write.subjectId,
        userId: write.userId,
        previousStatus: previous?.status ?? null,
        status: health.status,
        score: health.score,
        previousScore: previous?.score ?? null,
        components: componentScores(health.components),
        reason: reasonOf(previous, next, health.components),
      } as Parameters<typeof createEvent<"health.changed">>[1],
      { source: EVENT_SOURCE },
    );
  }
}

type Computed = { write: ScoreWrite; health: HealthScore<string> };

/** A batch's inputs read ahead, by subject id; a kind absent here is read one by one. */
type Preloaded = {
  connections?: Map<string, ConnectionInputs> | undefined;
  contacts?: Map<string, ContactInputs> | undefined;
  deals?: Map<string, DealInputs> | undefined;
};

function computed(
  subject: Subject,
  userId: string,
  inputsAsOf: Date,
  computedAt: Date,
  health: HealthScore<string>,
): Computed {
  return {
    health,
    write: {
      subjectType: subject.subjectType,
      subjectId: subject.subjectId,
      userId,
      score: health.score,
      status: health.status,
      components: health.components,
      inputsFrom: new Date(health.window.from),
      inputsTo: new Date(health.window.to),
      inputsAsOf,
      computedAt,
    },
  };
}
