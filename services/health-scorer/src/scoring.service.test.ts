// The health scorer as a service (runService with its consumers) on real NATS and Postgres:
// communication events arriving change a relationship score and announce it once, the same inputs
// announce nothing, duplicated events change nothing, token failures degrade connection health and
// a recovery restores it, the sweep refreshes only stale scores of active users (and gives their
// unscored subjects a first score), a deal kept in its stage too long turns stalled, a score the
// sweep cannot write is counted as its error while the rest go on, and malformed events published
// by hand are dead-lettered.
import { randomUUID } from "node:crypto";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { type AnyEvent, createEvent, type EventOf, streams, subjectOf } from "@syncwell/contracts";
import { type RunningServiceOf, runService } from "@syncwell/service";
import {
  createTestDatabase,
  createTestNats,
  finishedJobRun,
  publishTick,
  type TestDatabase,
  type TestNats,
  testServiceOptions,
  waitFor,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthScorerService } from "./service.ts";

const patience = { timeoutMs: 20_000 };
const DAY_MS = 86_400_000;

type HealthChanged = EventOf<"health.changed">;

describe("the health scorer", () => {
  let db: TestDatabase;
  let nats: TestNats;
  let nc: NatsConnection;
  let subscription: Subscription;
  let service: RunningServiceOf<typeof healthScorerService>;
  const received: AnyEvent[] = [];

  function changesOf(subjectId: string): HealthChanged[] {
    return received.filter(
      (e): e is HealthChanged => e.type === "health.changed" && e.data.subjectId === subjectId,
    );
  }

  async function user(lastActiveAt: Date | null): Promise<string> {
    const id = randomUUID();
    await db.pool.query(`INSERT INTO users (id, email, last_active_at) VALUES ($1, $2, $3)`, [
      id,
      `${id}@example.test`,
      lastActiveAt,
    ]);
    return id;
  }

  async function connection(userId: string): Promise<string> {
    const id = randomUUID();
    await db.pool.query(
      `INSERT INTO connections (id, user_id, provider, status, access_token_expires_at, last_synced_at)
       VALUES ($1, $2, 'google', 'connected', now() + interval '1 hour', now())`,
      [id, userId],
    );
    return id;
  }

  async function contact(userId: string): Promise<string> {
    const id = randomUUID();
    await db.pool.query(`INSERT INTO contacts (id, user_id, email) VALUES ($1, $2, $3)`, [
      id,
      userId,
      `${id}@contact.test`,
    ]);
    return id;
  }

  /** Communication events with the contact, `daysAgo` each, alternating inbound and outbound emails. */
  async function interactions(
    c: { userId: string; connectionId: string; contactId: string },
    daysAgo: readonly number[],
  ): Promise<void> {
    for (const [i, days] of daysAgo.entries()) {
      const rawId = randomUUID();
      await db.pool.query(
        `INSERT INTO raw_records (id, connection_id, platform, resource, external_id, payload, content_hash)
         VALUES ($1, $2, 'gmail', 'messages', $3, '{}', 'h')`,
        [rawId, c.connectionId, rawId],
      );
      await db.pool.query(
        `INSERT INTO communication_events (id, user_id, contact_id, connection_id, raw_record_id, channel, direction, occurred_at)
         VALUES ($1, $2, $3, $4, $5, 'email', $6, $7)`,
        [
          randomUUID(),
          c.userId,
          c.contactId,
          c.connectionId,
          rawId,
          i % 2 === 0 ? "inbound" : "outbound",
          new Date(Date.now() - days * DAY_MS),
        ],
      );
    }
  }

  function dataIngested(userId: string, connectionId: string): EventOf<"data.ingested"> {
    return createEvent(
      "data.ingested",
      {
        connectionId,
        userId,
        provider: "google",
        resource: "gmail.messages",
        counts: { added: 1, updated: 0, unchanged: 0, deleted: 0 },
        cursor: "1",
        communicationEventsCreated: 1,
        fullSync: false,
      },
      { source: "test" },
    );
  }

  async function stored(subjectType: string, subjectId: string) {
    const { rows } = await db.pool.query<{ score: number; status: string; computedAt: Date }>(
      `SELECT score, status, computed_at AS "computedAt" FROM health_scores WHERE subject_type = $1 AND subject_id = $2`,
      [subjectType, subjectId],
    );
    return rows[0];
  }

  async function historyCount(subjectId: string): Promise<number> {
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM health_score_history WHERE subject_id = $1`,
      [subjectId],
    );
    return rows[0]?.n ?? 0;
  }

  /** Waits until the connection's score was recomputed after `after` (every data.ingested rescores it). */
  async function connectionRescored(connectionId: string, after: Date): Promise<void> {
    await waitFor(
      async () =>
        ((await stored("connection", connectionId))?.computedAt ?? new Date(0)) > after || undefined,
      "the connection to be rescored",
      patience,
    );
  }

  /** Publishes an event as its own stream message (copy `n` of it: a message id of its own). */
  async function deliver(event: AnyEvent, n: number): Promise<void> {
    const subject = service.bus.naming.subject(subjectOf(event));
    await service.bus.js.publish(subject, JSON.stringify(event), { msgID: `${event.id}#${n}` });
  }

  /** Waits until the durable has handled and acknowledged everything published to its stream. */
  async function consumed(durable: string): Promise<void> {
    const stream = service.bus.naming.stream(streams.data);
    await waitFor(
      async () => {
        const info = await service.bus.jsm.consumers.info(stream, durable);
        return (info.num_pending === 0 && info.num_ack_pending === 0) || undefined;
      },
      `${durable} to settle`,
      patience,
    );
  }

  /** Lets the outbox relay publish what was committed, so an absent event is really absent. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 1_000));

  beforeAll(async () => {
    db = await createTestDatabase({ poolMax: 10 });
    nats = createTestNats("health");
    nc = await connect({ servers: nats.url });
    subscription = nc.subscribe(`${nats.prefix}.health.>`, {
      callback: (_err, msg) => {
        received.push(msg.json<AnyEvent>());
      },
    });
    await nc.flush();
    service = await runService(healthScorerService, await testServiceOptions(db, nats));
  });

  afterAll(async () => {
    await service?.stop("test done");
    subscription?.unsubscribe();
    await nc?.close();
    await nats?.cleanup();
    await db?.drop();
  });

  it("rescores a contact when its communication arrives, announces the change once, and nothing for the same inputs", async () => {
    const userId = await user(null);
    const connectionId = await connection(userId);
    const contactId = await contact(userId);
    const c = { userId, connectionId, contactId };
    // A year of history, nothing in the last 90 days: frequency and recency at 0.
    await interactions(c, [300, 280, 260, 240, 220, 200, 180, 160, 140, 120, 110, 100]);
    await service.bus.publish(dataIngested(userId, connectionId));
    const first = await waitFor(async () => changesOf(contactId)[0], "the first score", patience);
    expect(first.data).toMatchObject({
      subjectKind: "contact",
      userId,
      previousStatus: null,
      status: "critical",
    });
    expect(first.data.components).toHaveProperty("recency", 0);

    // New mail in both directions, the last today.
    await interactions(c, [25, 20, 15, 10, 5, 1, 0.5, 0]);
    await service.bus.publish(dataIngested(userId, connectionId));
    const second = await waitFor(async () => changesOf(contactId)[1], "the change", patience);
    expect(second.data).toMatchObject({
      previousStatus: "critical",
      status: "healthy",
      previousScore: first.data.score,
    });
    expect(second.data.score).toBeGreaterThanOrEqual(70);
    expect(second.data.reason).toContain("critical to healthy");
    const scored = await stored("contact", contactId);
    expect(scored).toMatchObject({ status: "healthy", score: second.data.score });
    expect(await historyCount(contactId)).toBe(2);

    // The same inputs again: recomputed, stored, but no change and nothing announced.
    const again = await service.parts.scoring.scoring.scoreContact(contactId);
    expect(again).toEqual({ written: true, changed: false, announced: false });

    // Another data.ingested with nothing new, delivered twice (two stream messages: the stream's
    // duplicate window would drop a second publish under the same message id).
    const before = new Date();
    const duplicate = dataIngested(userId, connectionId);
    await deliver(duplicate, 1);
    await deliver(duplicate, 2);
    await connectionRescored(connectionId, before);
    await consumed("health-scorer-data");
    await settle();
    expect(changesOf(contactId)).toHaveLength(2);
    expect(await historyCount(contactId)).toBe(2);
    expect(await stored("contact", contactId)).toMatchObject({ status: "healthy", score: second.data.score });
  });

  it("dead-letters malformed events published by hand, with their reason, and goes on scoring", async () => {
    const userId = await user(null);
    const connectionId = await connection(userId);
    const good = dataIngested(userId, connectionId);
    const { js, naming } = service.bus;
    const deadBefore = await deadLettered();
    await js.publish(naming.subject(subjectOf(good)), "not json at all");
    const badUser = { ...good, id: randomUUID(), data: { ...good.data, userId: "someone" } };
    await js.publish(naming.subject(subjectOf(good)), JSON.stringify(badUser));
    await js.publish(naming.subject("tick.health-sweep"), JSON.stringify({ type: "tick.health-sweep" }));

    const before = new Date();
    await service.bus.publish(good);
    await connectionRescored(connectionId, before);
    const dead = await waitFor(
      async () => {
        const now = await deadLettered();
        const added = (key: string) => (now.get(key) ?? 0) - (deadBefore.get(key) ?? 0);
        const counts = { data: added("health-scorer-data"), sweep: added("health-scorer-sweep") };
        return counts.data + counts.sweep >= 3 ? counts : undefined;
      },
      "the dead letters",
      patience,
    );
    expect(dead).toEqual({ data: 2, sweep: 1 });
    for (const consumer of service.consumers) expect(consumer.running).toBe(true);
  });

  /** Dead letters so far, by consumer (all of them invalid messages). */
  async function deadLettered(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const v of (await service.bus.metrics.deadLettered.get()).values) {
      expect(v.labels.reason).toBe("invalid");
      const consumer = String(v.labels.consumer);
      counts.set(consumer, (counts.get(consumer) ?? 0) + v.value);
    }
    return counts;
  }

  it("degrades connection health over a token failure streak and restores it on recovery", async () => {
    const userId = await user(null);
    const connectionId = await connection(userId);
    const ids = { connectionId, userId, provider: "google" };
    const refreshed = () =>
      createEvent(
        "token.refreshed",
        {
          ...ids,
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          refreshTokenRotated: false,
          recovered: true,
          previousStatus: "needs_reauth",
        },
        { source: "test" },
      );
    const failed = (failures: number, status: "warning" | "needs_reauth") =>
      createEvent(
        "token.failed",
        {
          ...ids,
          classification: status === "needs_reauth" ? "permanent" : "transient",
          errorCode: status === "needs_reauth" ? "invalid_grant" : "http_503",
          consecutiveFailures: failures,
          consecutiveTransientFailures: 0,
          previousStatus: "connected",
          status,
          retryAt: null,
        },
        { source: "test" },
      );
    const fail = async (failures: number, status: "warning" | "needs_reauth") => {
      await db.pool.query(
        `UPDATE connections SET consecutive_failures = $2, status = $3, last_failure_at = now() WHERE id = $1`,
        [connectionId, failures, status],
      );
      await service.bus.publish(failed(failures, status));
    };
    const statusIs = (status: string) =>
      waitFor(
        async () => ((await stored("connection", connectionId))?.status === status ? true : undefined),
        `connection health ${status}`,
        patience,
      );

    await service.bus.publish(refreshed());
    await statusIs("healthy");
    await fail(2, "warning");
    await statusIs("warning");
    await fail(3, "needs_reauth");
    await statusIs("critical");
    expect((await stored("connection", connectionId))?.score).toBe(0);

    await db.pool.query(
      `UPDATE connections SET consecutive_failures = 0, status = 'connected', last_refreshed_at = now(),
         access_token_expires_at = now() + interval '1 hour' WHERE id = $1`,
      [connectionId],
    );
    await service.bus.publish(refreshed());
    await statusIs("healthy");
    await settle();
    expect(changesOf(connectionId).map((e) => [e.data.previousStatus, e.data.status])).toEqual([
      [null, "healthy"],
      ["healthy", "warning"],
      ["warning", "critical"],
      ["critical", "healthy"],
    ]);
  });

  it("sweeps only stale scores of active users, and a deal kept in its stage too long turns stalled", async () => {
    const active = await user(new Date());
    const inactive = await user(new Date(Date.now() - 30 * DAY_MS));
    const connA = await connection(active);
    const connB = await connection(inactive);
    const staleContact = await contact(active);
    const freshContact = await contact(active);
    const inactiveContact = await contact(inactive);
    await interactions({ userId: active, connectionId: connA, contactId: staleContact }, [3, 2]);
    await interactions({ userId: active, connectionId: connA, contactId: freshContact }, [3, 2]);
    await interactions({ userId: inactive, connectionId: connB, contactId: inactiveContact }, [3, 2]);
    const dealId = randomUUID();
    await db.pool.query(
      `INSERT INTO deals (id, user_id, name, stage, stage_entered_at) VALUES ($1, $2, 'Renewal', 'proposal', now() - interval '5 days')`,
      [dealId, active],
    );
    await db.pool.query(`INSERT INTO deal_contacts (deal_id, contact_id) VALUES ($1, $2)`, [
      dealId,
      staleContact,
    ]);
    // A second deal, without contacts: the sweep reads deals in one statement.
    const quietDeal = randomUUID();
    await db.pool.query(
      `INSERT INTO deals (id, user_id, name, stage, stage_entered_at) VALUES ($1, $2, 'Pilot', 'lead', now() - interval '1 day')`,
      [quietDeal, active],
    );

    const { scoring } = service.parts.scoring;
    for (const id of [staleContact, freshContact, inactiveContact]) await scoring.scoreContact(id);
    expect(await scoring.scoreDeal(dealId)).toMatchObject({ written: true, changed: true });
    expect((await stored("deal", dealId))?.status).not.toBe("stalled");
    await scoring.scoreDeal(quietDeal);
    // Stage velocity full, no activity at all: 0.45 / 0.8 of 100.
    expect(await stored("deal", quietDeal)).toMatchObject({ score: 56, status: "warning" });

    // Two days later for everything but the fresh contact; the deal has been in its stage 15 days (14 expected).
    const twoDaysAgo = new Date(Date.now() - 2 * DAY_MS);
    await db.pool.query(`UPDATE health_scores SET computed_at = $2 WHERE subject_id = ANY($1::uuid[])`, [
      [staleContact, inactiveContact, dealId, quietDeal],
      twoDaysAgo,
    ]);
    await db.pool.query(`UPDATE deals SET stage_entered_at = now() - interval '15 days' WHERE id = $1`, [
      dealId,
    ]);
    const freshBefore = await stored("contact", freshContact);
    // Contacts never scored (created without an event that scores them): only the active user's gets one.
    const newContact = await contact(active);
    const inactiveNew = await contact(inactive);
    await interactions({ userId: active, connectionId: connA, contactId: newContact }, [4]);

    const jobRunId = await publishTick({ db: db.pool, bus: service.bus }, "health-sweep");
    const run = await finishedJobRun(db.pool, jobRunId);
    expect(run.status).toBe("succeeded");
    expect(run.counts).toMatchObject({ users: 1, refreshed: 5, changed: 3, errors: 0 });
    // Every claim was released (with its score's write), and each score swept is marked attempted.
    const marks = await db.pool.query<{ held: number; attempted: number }>(
      `SELECT count(*) FILTER (WHERE claimed_by IS NOT NULL OR claimed_until IS NOT NULL)::int AS held,
         count(*) FILTER (WHERE last_attempt_at IS NOT NULL)::int AS attempted FROM health_scores`,
    );
    expect(marks.rows[0]).toEqual({ held: 0, attempted: 5 });

    expect((await stored("contact", staleContact))?.computedAt.getTime()).toBeGreaterThan(
      twoDaysAgo.getTime(),
    );
    expect((await stored("contact", inactiveContact))?.computedAt).toEqual(twoDaysAgo);
    expect((await stored("contact", freshContact))?.computedAt).toEqual(freshBefore?.computedAt);
    expect(await stored("deal", dealId)).toMatchObject({ status: "stalled" });
    expect(await stored("contact", newContact)).toBeDefined();
    expect(await stored("connection", connA)).toBeDefined();
    expect(await stored("contact", inactiveNew)).toBeUndefined();
    expect(await stored("connection", connB)).toBeUndefined();
    expect((await stored("deal", quietDeal))?.computedAt.getTime()).toBeGreaterThan(twoDaysAgo.getTime());
    const stalled = await waitFor(
      async () => changesOf(dealId).find((e) => e.data.status === "stalled"),
      "the deal's stalled announcement",
      patience,
    );
    expect(stalled.data.reason).toContain("in stage proposal for 15 days (expected 14)");

    // A new active user whose subjects have no score yet: the next sweep scores them and counts the user.
    const newcomer = await user(new Date());
    await connection(newcomer);
    await contact(newcomer);
    const second = await finishedJobRun(
      db.pool,
      await publishTick({ db: db.pool, bus: service.bus }, "health-sweep"),
    );
    expect(second.counts).toMatchObject({ users: 1, refreshed: 2, errors: 0 });
  });

  it("counts a score the sweep cannot write as its error, keeps why on the score, and refreshes the rest", async () => {
    const active = await user(new Date());
    const connectionId = await connection(active);
    const [good, bad] = [await contact(active), await contact(active)];
    for (const contactId of [good, bad]) {
      await interactions({ userId: active, connectionId, contactId }, [3, 2]);
      await service.parts.scoring.scoring.scoreContact(contactId);
    }
    const twoDaysAgo = new Date(Date.now() - 2 * DAY_MS);
    await db.pool.query(`UPDATE health_scores SET computed_at = $2 WHERE subject_id = ANY($1::uuid[])`, [
      [good, bad],
      twoDaysAgo,
    ]);
    // A fault in Postgres: writing this one score fails (its claim and release still go through).
    await db.pool.query(`CREATE FUNCTION refuse_score() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'injected fault: this score cannot be written'; END $$`);
    await db.pool.query(`CREATE TRIGGER refuse_score BEFORE UPDATE ON health_scores FOR EACH ROW
      WHEN (NEW.subject_id = '${bad}' AND NEW.computed_at IS DISTINCT FROM OLD.computed_at)
      EXECUTE FUNCTION refuse_score()`);
    try {
      const run = await finishedJobRun(
        db.pool,
        await publishTick({ db: db.pool, bus: service.bus }, "health-sweep"),
      );
      expect(run.status).toBe("partial");
      // The good contact and the connection's first score.
      expect(run.counts).toMatchObject({ users: 1, refreshed: 2, errors: 1 });
    } finally {
      await db.pool.query("DROP TRIGGER refuse_score ON health_scores; DROP FUNCTION refuse_score()");
    }
    expect((await stored("contact", good))?.computedAt.getTime()).toBeGreaterThan(twoDaysAgo.getTime());
    expect((await stored("contact", bad))?.computedAt).toEqual(twoDaysAgo);
    const { rows } = await db.pool.query<{ lastError: string | null; claimedBy: string | null }>(
      `SELECT last_error AS "lastError", claimed_by AS "claimedBy" FROM health_scores WHERE subject_id = $1`,
      [bad],
    );
    expect(rows).toEqual([{ lastError: expect.stringMatching(/injected fault/), claimedBy: null }]);
  });
});
