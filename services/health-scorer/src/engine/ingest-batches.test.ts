// data.ingested applied in batches on a real database: the contacts of many connections with new
// communication are rescored, each announcement continues the trace of the event that caused it,
// the marks move forward, and an event with nothing new behind it changes nothing.
import { randomUUID } from "node:crypto";
import { context, propagation, ROOT_CONTEXT, TraceFlags, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { createEvent, type EventOf } from "@syncwell/contracts";
import { createLogger } from "@syncwell/telemetry";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema, scoringSettings } from "../config.ts";
import { IngestBatches } from "./ingest-batches.ts";
import { HealthScoring } from "./scoring.ts";

const DAY_MS = 86_400_000;

describe("IngestBatches", () => {
  let db: TestDatabase;
  let batches: IngestBatches;
  let userId: string;

  beforeAll(async () => {
    // What the service's telemetry sets up: context that follows async work, W3C trace context.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    db = await createTestDatabase();
    userId = randomUUID();
    await db.pool.query(`INSERT INTO users (id, email) VALUES ($1, $2)`, [userId, `${userId}@example.test`]);
    const logger = createLogger({ service: "health-scorer-test", level: "silent" });
    const settings = scoringSettings(configSchema.parse({ DATABASE_URL: "postgresql://x" }));
    batches = new IngestBatches(new HealthScoring(db.pool, settings, logger), db.pool, logger, {
      maxBatch: 50,
      lingerMs: 20,
      maxConcurrent: 1,
      maxScoreWrite: 3,
      markOverlapMs: 60_000,
      noMarkSinceMs: DAY_MS,
    });
  });

  afterAll(async () => {
    propagation.disable();
    context.disable();
    await db?.drop();
  });

  async function connectionWithContacts(
    contacts: number,
  ): Promise<{ connectionId: string; contactIds: string[] }> {
    const connectionId = randomUUID();
    await db.pool.query(
      `INSERT INTO connections (id, user_id, provider, provider_account_id, status, access_token_expires_at, last_synced_at)
       VALUES ($1, $2, 'google', $3, 'connected', now() + interval '1 hour', now())`,
      [connectionId, userId, `account-${connectionId}`],
    );
    const contactIds = Array.from({ length: contacts }, () => randomUUID());
    for (const id of contactIds) {
      await db.pool.query(`INSERT INTO contacts (id, user_id, email) VALUES ($1, $2, $3)`, [
        id,
        userId,
        `${id}@contact.test`,
      ]);
    }
    return { connectionId, contactIds };
  }

  /** One email with the contact, received `daysAgo`, as the poller records it. */
  async function email(connectionId: string, contactId: string, daysAgo: number): Promise<void> {
    const rawId = randomUUID();
    await db.pool.query(
      `INSERT INTO raw_records (id, connection_id, platform, resource, external_id, payload, content_hash)
       VALUES ($1, $2, 'gmail', 'messages', $3, '{}', 'h')`,
      [rawId, connectionId, `message-${rawId}`],
    );
    await db.pool.query(
      `INSERT INTO communication_events (id, user_id, contact_id, connection_id, raw_record_id, channel, direction, occurred_at)
       VALUES ($1, $2, $3, $4, $5, 'email', 'inbound', $6)`,
      [randomUUID(), userId, contactId, connectionId, rawId, new Date(Date.now() - daysAgo * DAY_MS)],
    );
  }

  function ingested(connectionId: string, created: number): EventOf<"data.ingested">["data"] {
    return createEvent(
      "data.ingested",
      {
        connectionId,
        userId,
        provider: "google",
        resource: "gmail.messages",
        counts: { added: created, updated: 0, unchanged: 0, deleted: 0 },
        cursor: "1",
        communicationEventsCreated: created,
        fullSync: false,
      },
      { source: "test" },
    ).data;
  }

  /** A context whose trace id is `traceId`, as a consumer has while handling a traced message. */
  function tracedBy(traceId: string) {
    return trace.setSpanContext(ROOT_CONTEXT, {
      traceId,
      spanId: "00f067aa0ba902b7",
      traceFlags: TraceFlags.SAMPLED,
    });
  }

  async function announcedTraces(): Promise<Map<string, string>> {
    const { rows } = await db.pool.query<{ subjectId: string; traceparent: string }>(
      `SELECT payload->'data'->>'subjectId' AS "subjectId", trace_headers->>'traceparent' AS traceparent
       FROM outbox_events WHERE type = 'health.changed'`,
    );
    return new Map(rows.map((r) => [r.subjectId, r.traceparent.split("-")[1] ?? ""]));
  }

  it("rescores each connection's new contacts once, continuing each event's trace, and moves the marks", async () => {
    const a = await connectionWithContacts(4);
    const b = await connectionWithContacts(3);
    for (const id of a.contactIds) await email(a.connectionId, id, 2);
    for (const id of b.contactIds) await email(b.connectionId, id, 3);
    const traceA = "a".repeat(32);
    const traceB = "b".repeat(32);
    await Promise.all([
      context.with(tracedBy(traceA), () => batches.submit(ingested(a.connectionId, 4))),
      context.with(tracedBy(traceB), () => batches.submit(ingested(b.connectionId, 3))),
      // The same event delivered twice in one batch.
      context.with(tracedBy(traceB), () => batches.submit(ingested(b.connectionId, 3))),
    ]);

    const traces = await announcedTraces();
    for (const id of [a.connectionId, ...a.contactIds]) expect(traces.get(id)).toBe(traceA);
    for (const id of [b.connectionId, ...b.contactIds]) expect(traces.get(id)).toBe(traceB);
    const { rows: history } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM health_score_history WHERE subject_id = ANY($1::uuid[])`,
      [[...a.contactIds, ...b.contactIds]],
    );
    expect(history[0]?.n).toBe(7);
    const { rows: marks } = await db.pool.query<{ connectionId: string; through: Date; newest: Date }>(
      `SELECT m.connection_id AS "connectionId", m.events_through AS through,
         (SELECT max(created_at) FROM communication_events e WHERE e.connection_id = m.connection_id) AS newest
       FROM health_ingest_marks m WHERE m.connection_id = ANY($1::uuid[])`,
      [[a.connectionId, b.connectionId]],
    );
    expect(marks).toHaveLength(2);
    for (const mark of marks) expect(mark.through).toEqual(mark.newest);

    // Nothing new behind the next event of A: only the connection is recomputed, no contact changes.
    const before = (await announcedTraces()).size;
    await batches.submit(ingested(a.connectionId, 1));
    expect((await announcedTraces()).size).toBe(before);

    // A new email of one contact of A: that contact alone is rescored.
    await email(a.connectionId, a.contactIds[0] as string, 0);
    const { rows: scored } = await db.pool.query<{ subjectId: string; computedAt: Date }>(
      `SELECT subject_id AS "subjectId", computed_at AS "computedAt" FROM health_scores WHERE subject_id = ANY($1::uuid[])`,
      [a.contactIds],
    );
    const computedBefore = new Map(scored.map((r) => [r.subjectId, r.computedAt.getTime()]));
    await batches.submit(ingested(a.connectionId, 1));
    const { rows: after } = await db.pool.query<{ subjectId: string; computedAt: Date }>(
      `SELECT subject_id AS "subjectId", computed_at AS "computedAt" FROM health_scores WHERE subject_id = ANY($1::uuid[])`,
      [a.contactIds],
    );
    const moved = after.filter((r) => r.computedAt.getTime() !== computedBefore.get(r.subjectId));
    expect(moved.map((r) => r.subjectId)).toEqual([a.contactIds[0]]);
  });
});
