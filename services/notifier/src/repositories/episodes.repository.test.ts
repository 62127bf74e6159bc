// Episodes on a real database: created before a subject's first event, locked and read back by
// key, stored again; a user who does not exist gets none. With statistics of a table of many
// episodes (ANALYZE), a batch still looks each key up in an index instead of reading every row.
import { randomUUID } from "node:crypto";
import { withTransaction } from "@syncwell/db";
import { createTestDatabase, explainingQueryable, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { episodeKey } from "../domain/batch.ts";
import { noEpisode } from "../domain/episode.ts";
import { type EpisodeKey, lockEpisodes, storeEpisodes } from "./episodes.repository.ts";
import { insertMessages } from "./notifications.repository.ts";

let db: TestDatabase;
/** 2,000 users, each with ten episodes. */
let users: string[];

beforeAll(async () => {
  db = await createTestDatabase();
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO users (id, email) SELECT gen_random_uuid(), 'u' || i || '@example.test'
     FROM generate_series(1, 2000) i RETURNING id::text`,
  );
  users = rows.map((r) => r.id);
  await db.pool.query(
    `INSERT INTO notification_episodes (user_id, subject_key)
     SELECT u.id, 'connection:' || gen_random_uuid() FROM users u, generate_series(1, 10)`,
  );
  await db.pool.query("ANALYZE users, notification_episodes, notifications");
});

afterAll(async () => {
  await db?.drop();
});

const keysOf = (n: number): EpisodeKey[] =>
  users.slice(0, n).map((userId) => ({ userId, subjectKey: `deal:${randomUUID()}` }));

describe("lockEpisodes and storeEpisodes", () => {
  it("create a subject's row before its first episode, read it back by key, and store the next one", async () => {
    const keys = keysOf(3);
    const ghost = { userId: randomUUID(), subjectKey: "deal:gone" };
    const first = await withTransaction(db.pool, (client) => lockEpisodes(client, [...keys, ghost]));
    expect([...first.keys()].sort()).toEqual(keys.map((k) => episodeKey(k.userId, k.subjectKey)).sort());
    expect([...first.values()]).toEqual(keys.map(() => noEpisode));

    const next = { ...noEpisode, number: 1, openedAt: Date.parse("2026-12-01T10:00:00Z"), level: 2 };
    await withTransaction(db.pool, (client) =>
      storeEpisodes(
        client,
        keys.map((k) => ({ ...k, episode: next })),
      ),
    );
    const again = await withTransaction(db.pool, (client) => lockEpisodes(client, keys));
    expect([...again.values()]).toEqual(keys.map(() => next));
  });

  it("look each key up in an index once statistics say the table is large", async () => {
    const keys = keysOf(300);
    const explained = explainingQueryable(db.pool);
    await lockEpisodes(explained.db, keys);
    await storeEpisodes(
      explained.db,
      keys.map((k) => ({ ...k, episode: noEpisode })),
    );
    await insertMessages(
      explained.db,
      keys.map((k) => ({
        id: randomUUID(),
        notificationId: randomUUID(),
        userId: k.userId,
        channel: "email",
        trace: {},
      })),
    );
    expect(explained.plans).toHaveLength(4);
    for (const plan of explained.plans) {
      const read = plan.filter(
        (n) => n["Relation Name"] !== undefined && n["Relation Name"] !== "notification_messages",
      );
      expect(read.map((n) => n["Node Type"])).not.toContain("Seq Scan");
    }
  });
});
