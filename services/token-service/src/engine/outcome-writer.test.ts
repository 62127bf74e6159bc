import type { TokenCipher } from "@syncwell/credentials";
import { createSimulator, type Simulator } from "@syncwell/provider-simulator";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cipherFor, randomKey } from "../testing/fixtures.ts";
import {
  captureLogger,
  connectionState,
  outboxEvents,
  seedConnections,
  simulatorProviders,
} from "../testing/refresh-support.ts";
import { refreshMetrics } from "./metrics.ts";
import { OutcomeWriter } from "./outcome-writer.ts";

/**
 * A batch is retried when its COMMIT's answer is lost (Postgres went away mid-commit); the retry
 * must change nothing when the commit did go through. Submitting the same outcome twice is that retry.
 */

let db: TestDatabase;
let sim: Simulator;
let cipher: TokenCipher;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await createSimulator();
  cipher = cipherFor({ k1: randomKey() }, "k1");
});

afterAll(async () => {
  await sim?.close();
  await db?.drop();
});

async function claimedRow(provider: "google" | "spotify") {
  const [seeded] = await seedConnections(db.pool, cipher, sim, { provider, count: 1 });
  if (!seeded) throw new Error("no connection seeded");
  await db.pool.query(
    "UPDATE connections SET refresh_claimed_by = 'w1', refresh_claimed_until = now() + interval '1 minute' WHERE id = $1",
    [seeded.id],
  );
  const claim = {
    id: seeded.id,
    userId: seeded.userId,
    provider,
    status: "connected" as const,
    refreshTokenEncrypted: (await connectionState(db.pool, seeded.id)).refresh_token_encrypted,
    accessTokenExpiresAt: null,
    consecutiveFailures: 0,
    consecutiveTransientFailures: 0,
    previousAnswerLost: false,
  };
  return { seeded, claim };
}

describe("OutcomeWriter", () => {
  it.each([
    ["an answer without rotation", "google" as const, undefined],
    ["an answer that rotated the refresh token", "spotify" as const, "rotated-refresh-token-0001"],
  ])("writes %s once when its batch is written again", async (_name, provider, rotatedTo) => {
    const writer = new OutcomeWriter({
      pool: db.pool,
      cipher,
      claimedBy: "w1",
      logger: captureLogger().logger,
      metrics: refreshMetrics(new Registry()),
      lingerMs: 1,
    });
    const { seeded, claim } = await claimedRow(provider);
    const runtime = simulatorProviders(sim.url).get(provider);
    if (!runtime) throw new Error(`no ${provider} runtime`);
    const item = {
      kind: "success" as const,
      claim,
      provider: runtime,
      usedRefreshToken: seeded.refreshToken,
      result: {
        ok: true as const,
        accessToken: "new-access-token-0001",
        ...(rotatedTo ? { refreshToken: rotatedTo } : {}),
      },
      receivedAt: new Date(),
      journalSeqs: [],
    };
    expect(await writer.submit(item)).toBe("refreshed");
    expect(await writer.submit({ ...item, journalSeqs: [] })).toBe("released");
    const refreshed = (await outboxEvents(db.pool)).filter(
      (e) => e.type === "token.refreshed" && (e.data as { connectionId: string }).connectionId === seeded.id,
    );
    expect(refreshed).toHaveLength(1);
    const row = await connectionState(db.pool, seeded.id);
    expect(cipher.decrypt(row.refresh_token_encrypted)).toBe(rotatedTo ?? seeded.refreshToken);
    expect(row.refresh_claimed_by).toBeNull();
  });
});
