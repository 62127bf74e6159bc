// A deal's close date through the service's API (runService, real HTTP, Postgres and NATS): the
// close date as first set is kept while the close date moves and cleared with it, by create,
// PATCH and bulk upsert alike, and the score computed after each write counts a close date moved
// later as slippage.
import { type RunningServiceOf, runService } from "@syncwell/service";
import {
  createTestDatabase,
  createTestNats,
  type TestDatabase,
  type TestNats,
  testServiceOptions,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DAY_MS } from "../domain/score.ts";
import { healthScorerService } from "../service.ts";
import { API_KEY, apiRequest, createUser } from "../testing/api.ts";
import type { BulkResponse } from "./bulk-results.ts";
import type { DealView } from "./deal-fields.ts";

let db: TestDatabase;
let nats: TestNats;
let service: RunningServiceOf<typeof healthScorerService>;

beforeAll(async () => {
  db = await createTestDatabase();
  nats = createTestNats("health-close-date");
  service = await runService(
    healthScorerService,
    await testServiceOptions(db, nats, { HEALTH_API_KEYS: API_KEY }),
  );
});

afterAll(async () => {
  await service?.stop("test done");
  await nats?.cleanup();
  await db?.drop();
});

const send = (method: string, path: string, body?: unknown) => apiRequest(service.url, method, path, body);

async function ok<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as T;
}

/** Fixed at the start, so every close date below is a whole number of days from the others. */
const start = Date.now();
const daysAhead = (days: number) => new Date(start + days * DAY_MS).toISOString();

type Component = { name: string; value: number | null; score: number | null };

/** The deal's stored score and its close-date slippage component. */
async function health(userId: string, dealId: string): Promise<{ score: number; slippage: Component }> {
  const view = await ok<{ score: number; components: Component[] }>(
    await send("GET", `/v1/users/${userId}/health/deal/${dealId}`),
  );
  const slippage = view.components.find((c) => c.name === "closeDateSlippage");
  if (!slippage) throw new Error("no closeDateSlippage component");
  return { score: view.score, slippage };
}

describe("a deal's original close date", () => {
  it("is kept through PATCHes that move the close date, and slippage counts a move later", async () => {
    const userId = await createUser(db.pool);
    // "lead", just entered and without contacts: velocity 1, activity 0, so only slippage moves.
    const created = await ok<DealView>(
      await send("POST", `/v1/users/${userId}/deals`, {
        name: "D",
        stage: "lead",
        expectedCloseAt: daysAhead(10),
      }),
      201,
    );
    expect(created.originalExpectedCloseAt).toBe(daysAhead(10));
    const onTime = await health(userId, created.id);
    expect(onTime.slippage).toMatchObject({ value: 0, score: 1 });

    const url = `/v1/users/${userId}/deals/${created.id}`;
    const later = await ok<DealView>(await send("PATCH", url, { expectedCloseAt: daysAhead(30) }));
    expect(later).toMatchObject({ expectedCloseAt: daysAhead(30), originalExpectedCloseAt: daysAhead(10) });
    const slipped = await health(userId, created.id);
    expect(slipped.slippage.value).toBeCloseTo(20, 2);
    expect(slipped.slippage.score).toBeCloseTo(1 / 3, 2);
    expect(slipped.score).toBeLessThan(onTime.score);

    const earlier = await ok<DealView>(await send("PATCH", url, { expectedCloseAt: daysAhead(5) }));
    expect(earlier).toMatchObject({ expectedCloseAt: daysAhead(5), originalExpectedCloseAt: daysAhead(10) });
    expect(await health(userId, created.id)).toEqual(onTime);

    const renamed = await ok<DealView>(await send("PATCH", url, { name: "D, renamed" }));
    expect(renamed.originalExpectedCloseAt).toBe(daysAhead(10));

    const cleared = await ok<DealView>(await send("PATCH", url, { expectedCloseAt: null }));
    expect(cleared).toMatchObject({ expectedCloseAt: null, originalExpectedCloseAt: null });
    expect((await health(userId, created.id)).slippage).toMatchObject({ value: null, score: null });

    const reset = await ok<DealView>(await send("PATCH", url, { expectedCloseAt: daysAhead(40) }));
    expect(reset).toMatchObject({ expectedCloseAt: daysAhead(40), originalExpectedCloseAt: daysAhead(40) });
    expect((await health(userId, created.id)).slippage).toMatchObject({ value: 0, score: 1 });
    expect(await ok<DealView>(await send("GET", url))).toEqual(reset);
  });

  it("is kept the same way by bulk upserts", async () => {
    const userId = await createUser(db.pool);
    const url = `/v1/users/${userId}/deals:bulk-upsert`;
    const upsert = async (expectedCloseAt: string | null) => {
      const item = { externalId: "crm-1", name: "D", stage: "lead", expectedCloseAt };
      const answer = await ok<BulkResponse>(await send("POST", url, { items: [item] }));
      const [result] = answer.results;
      if (result?.status === "error" || !result) throw new Error(JSON.stringify(answer));
      const view = await ok<DealView>(await send("GET", `/v1/users/${userId}/deals/${result.id}`));
      return { status: result.status, view, health: await health(userId, result.id) };
    };

    const first = await upsert(daysAhead(10));
    expect(first.view.originalExpectedCloseAt).toBe(daysAhead(10));
    expect(first.health.slippage).toMatchObject({ value: 0, score: 1 });

    const later = await upsert(daysAhead(30));
    expect(later.status).toBe("updated");
    expect(later.view).toMatchObject({
      expectedCloseAt: daysAhead(30),
      originalExpectedCloseAt: daysAhead(10),
    });
    expect(later.health.slippage.value).toBeCloseTo(20, 2);
    expect(later.health.score).toBeLessThan(first.health.score);
    expect((await upsert(daysAhead(30))).status).toBe("unchanged");

    const earlier = await upsert(daysAhead(5));
    expect(earlier.view.originalExpectedCloseAt).toBe(daysAhead(10));
    expect(earlier.health).toEqual(first.health);

    const cleared = await upsert(null);
    expect(cleared.view).toMatchObject({ expectedCloseAt: null, originalExpectedCloseAt: null });

    const reset = await upsert(daysAhead(40));
    expect(reset.view.originalExpectedCloseAt).toBe(daysAhead(40));
    expect(reset.health.slippage).toMatchObject({ value: 0, score: 1 });
  });

  it("cannot be set by a client: an unknown field, refused where it is given", async () => {
    const userId = await createUser(db.pool);
    const base = `/v1/users/${userId}/deals`;
    const given = { originalExpectedCloseAt: daysAhead(1) };
    const refusedAt = async (res: Response) => {
      const answer = await ok<{ details: Array<{ path: string }> }>(res, 400);
      return answer.details.map((d) => d.path);
    };
    expect(await refusedAt(await send("POST", base, { name: "D", stage: "lead", ...given }))).toEqual([
      "body.originalExpectedCloseAt",
    ]);
    const deal = await ok<DealView>(await send("POST", base, { name: "D", stage: "lead" }), 201);
    expect(await refusedAt(await send("PATCH", `${base}/${deal.id}`, given))).toContain(
      "body.originalExpectedCloseAt",
    );
    const bulk = await ok<BulkResponse>(
      await send("POST", `${base}:bulk-upsert`, {
        items: [{ externalId: "x", name: "D", stage: "lead", ...given }],
      }),
    );
    expect(bulk.results).toEqual([
      expect.objectContaining({
        status: "error",
        details: [expect.objectContaining({ path: "body.items.0.originalExpectedCloseAt" })],
      }),
    ]);
  });
});
