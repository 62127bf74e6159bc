// Prisma Client against a database built by the hand-written SQL: proves schema.prisma and
// migration.sql agree (names, types, defaults), plus what only the SQL carries (CHECKs, trigger).

import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PrismaClient } from "./generated/prisma/client.ts";
import { createPrismaClient } from "./prisma.ts";

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient(db.url);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

describe("schema", () => {
  it("creates and reads a user with a connection through Prisma Client", async () => {
    const user = await prisma.user.create({ data: { email: "ada@example.com", name: "Ada" } });
    expect(user.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(user.timeZone).toBe("UTC");
    expect(user.createdAt).toBeInstanceOf(Date);
    expect(user.lastActiveAt).toBeNull();

    const expiresAt = new Date("2030-01-01T00:00:00.123Z");
    const connection = await prisma.connection.create({
      data: {
        userId: user.id,
        provider: "google",
        providerAccountId: "acct-1",
        scopes: ["gmail.readonly", "calendar.readonly"],
        accessTokenEncrypted: "v1:ciphertext",
        tokenKeyId: "k1",
        accessTokenExpiresAt: expiresAt,
      },
    });
    expect(connection).toMatchObject({
      status: "connected",
      consecutiveFailures: 0,
      consecutiveTransientFailures: 0,
      revokedAt: null,
    });

    const read = await prisma.user.findUniqueOrThrow({
      where: { email: "ada@example.com" },
      include: { connections: true },
    });
    expect(read.connections).toHaveLength(1);
    expect(read.connections[0]?.scopes).toEqual(["gmail.readonly", "calendar.readonly"]);
    expect(read.connections[0]?.accessTokenExpiresAt?.toISOString()).toBe(expiresAt.toISOString());

    const byKey = await prisma.connection.findUnique({
      where: {
        userId_provider_providerAccountId: {
          userId: user.id,
          provider: "google",
          providerAccountId: "acct-1",
        },
      },
    });
    expect(byKey?.id).toBe(connection.id);

    const updated = await prisma.connection.update({
      where: { id: connection.id },
      data: { status: "warning" },
    });
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(connection.updatedAt.getTime());

    await prisma.user.delete({ where: { id: user.id } });
    expect(await prisma.connection.count({ where: { userId: user.id } })).toBe(0); // cascade
  });

  it("writes the other tables through Prisma Client with their defaults", async () => {
    const eventId = randomUUID();
    const outbox = await prisma.outboxEvent.create({
      data: { id: eventId, subject: "token.refreshed", type: "token.refreshed", payload: { id: eventId } },
    });
    expect(outbox).toMatchObject({ traceHeaders: {}, attempts: 0, publishedAt: null, lastError: null });

    const processed = await prisma.processedEvent.create({
      data: { consumer: "poller.token-refreshed", eventId, eventType: "token.refreshed" },
    });
    expect(processed.processedAt).toBeInstanceOf(Date);

    const slot = new Date("2026-01-01T00:05:00.000Z");
    const run = await prisma.jobRun.create({ data: { schedule: "token-refresh", slot } });
    expect(run).toMatchObject({ status: "running", catchUp: false, manual: false, attempts: 0, counts: {} });
    await expect(prisma.jobRun.create({ data: { schedule: "token-refresh", slot } })).rejects.toMatchObject({
      code: "P2002",
    });
  });

  it("enforces the CHECK constraints Prisma cannot express", async () => {
    await expect(
      db.pool.query("INSERT INTO users (id, email) VALUES ($1, 'Mixed@Example.com')", [randomUUID()]),
    ).rejects.toThrow(/users_email_lowercase_check/);

    const userId = randomUUID();
    await db.pool.query("INSERT INTO users (id, email) VALUES ($1, 'check@example.com')", [userId]);
    await expect(
      db.pool.query(
        "INSERT INTO connections (id, user_id, provider, status) VALUES ($1, $2, 'github', 'sleeping')",
        [randomUUID(), userId],
      ),
    ).rejects.toThrow(/connections_status_check/);
    await expect(
      db.pool.query(
        "INSERT INTO job_runs (id, schedule, slot, status) VALUES ($1, 'digest', now(), 'done')",
        [randomUUID()],
      ),
    ).rejects.toThrow(/job_runs_status_check/);
  });

  it("notifies channel syncwell_outbox when outbox rows are inserted", async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    try {
      await listener.query("LISTEN syncwell_outbox");
      const notified = new Promise<pg.Notification>((resolve) => listener.once("notification", resolve));

      const id = randomUUID();
      await db.pool.query(
        "INSERT INTO outbox_events (id, subject, type, payload) VALUES ($1, 'health.changed', 'health.changed', $2)",
        [id, JSON.stringify({ id })],
      );

      const notification = await notified;
      expect(notification.channel).toBe("syncwell_outbox");
      expect(notification.payload).toBe("");
    } finally {
      await listener.end();
    }
  });
});
