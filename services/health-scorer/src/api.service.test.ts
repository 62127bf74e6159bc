// The API as the service serves it (runService, real HTTP, Postgres and NATS): guarded by any of
// HEALTH_API_KEYS, absent without them, and hostile input refused with located 400s (or the
// runtime's 413 for a body over its limit) that never quote a key, leaving every row as it was.
import { randomUUID } from "node:crypto";
import { type RunningServiceOf, runService } from "@syncwell/service";
import {
  createTestDatabase,
  createTestNats,
  type TestDatabase,
  type TestNats,
  testServiceOptions,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthScorerService } from "./service.ts";
import { API_KEY, createUser, NEXT_API_KEY } from "./testing/api.ts";

let db: TestDatabase;
let nats: TestNats;
let service: RunningServiceOf<typeof healthScorerService>;
let userId: string;
const answers: string[] = [];

async function send(
  method: string,
  path: string,
  body?: unknown,
  key: string | null = API_KEY,
): Promise<Response> {
  const headers: Record<string, string> = key === null ? {} : { authorization: `Bearer ${key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers,
    body: body === undefined || typeof body === "string" ? body : JSON.stringify(body),
  });
  answers.push(await res.clone().text(), JSON.stringify([...res.headers]));
  return res;
}

async function snapshot(): Promise<string> {
  const parts: unknown[] = [];
  for (const table of ["users", "contacts", "deals", "deal_contacts"]) {
    parts.push((await db.pool.query(`SELECT * FROM ${table} ORDER BY 1`)).rows);
  }
  return JSON.stringify(parts);
}

beforeAll(async () => {
  db = await createTestDatabase();
  nats = createTestNats("health-api");
  const keys = ` ${API_KEY},${NEXT_API_KEY} `;
  service = await runService(
    healthScorerService,
    await testServiceOptions(db, nats, { HEALTH_API_KEYS: keys }),
  );
  userId = await createUser(db.pool);
});

afterAll(async () => {
  await service?.stop("test done");
  await nats?.cleanup();
  await db?.drop();
});

describe("the service's API", () => {
  it("answers with either key, 401 without one, and leaves the probes open", async () => {
    const created = await send("POST", `/v1/users/${userId}/contacts`, { email: "Svc@X.org" }, NEXT_API_KEY);
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await send("GET", `/v1/users/${userId}/contacts/${id}`, undefined, API_KEY)).status).toBe(200);
    expect((await send("GET", `/v1/users/${userId}/contacts/${id}`, undefined, null)).status).toBe(401);
    expect((await send("GET", "/healthz", undefined, null)).status).toBe(200);
  });

  it("refuses hostile input with located 400s and changes no row", async () => {
    const before = await snapshot();
    const contacts = `/v1/users/${userId}/contacts`;
    const cases: Array<[string, string, unknown, string]> = [
      ["POST", contacts, { email: "a\u0000@x.org" }, "body.email"],
      ["POST", contacts, { email: "\u200b\u200b" }, "body.email"],
      ["POST", contacts, '{"email": "a@x.org"', "body"],
      [
        "POST",
        contacts,
        { email: "b@x.org", __proto__: { admin: true }, constructor: 1 },
        "body.constructor",
      ],
      [
        "POST",
        `${contacts}:bulk-upsert`,
        { items: [{ externalId: "x", email: "c@x.org", name: "\ud800" }] },
        "body.items.0.name",
      ],
      ["POST", contacts, '{"email": "d@x.org", "__proto__": {"admin": true}}', "body"],
      ["PATCH", `${contacts}/${"1".repeat(5000)}`, { name: "x" }, "params.id"],
      ["GET", `/v1/users/${userId}/contacts?cursor=%00`, undefined, "query.cursor"],
      ["GET", "/v1/users/not-a-uuid/contacts?limit=abc", undefined, "query.limit"],
      [
        "POST",
        `/v1/users/${userId}/deals`,
        { name: "D", stage: "lead", expectedCloseAt: "tomorrow" },
        "body.expectedCloseAt",
      ],
    ];
    for (const [method, path, body, where] of cases) {
      const res = await send(method, path, body);
      expect(res.status, `${method} ${path.slice(0, 80)}`).toBe(400);
      const answer = (await res.json()) as { error: string; details: Array<{ path: string }> };
      expect(answer.error).toBe("bad_request");
      expect(answer.details.map((d) => d.path)).toContain(where);
    }
    const huge = { items: [{ externalId: "big", email: "big@x.org", name: "x".repeat(2 * 1024 * 1024) }] };
    const tooLarge = await send("POST", `${contacts}:bulk-upsert`, huge);
    expect(tooLarge.status).toBe(413);
    expect(await snapshot()).toBe(before);
    expect(answers.join("\n")).not.toContain(API_KEY);
    expect(answers.join("\n")).not.toContain(NEXT_API_KEY);
  });
});

describe("writes through the API", () => {
  it("rescore their subject at once: a deal kept in its stage too long turns stalled, a new stage mends it", async () => {
    const created = await send("POST", `/v1/users/${userId}/deals`, { name: "Timed", stage: "lead" });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const health = async () => {
      const res = await send("GET", `/v1/users/${userId}/health/deal/${id}?history=5`);
      expect(res.status).toBe(200);
      return (await res.json()) as { status: string; history: unknown[] };
    };
    expect((await health()).status).not.toBe("stalled");

    // 20 days in "lead" (expected 14): the next write of the deal scores it stalled.
    await db.pool.query("UPDATE deals SET stage_entered_at = now() - interval '20 days' WHERE id = $1", [id]);
    expect((await send("PATCH", `/v1/users/${userId}/deals/${id}`, { name: "Timed, renamed" })).status).toBe(
      200,
    );
    expect((await health()).status).toBe("stalled");

    expect((await send("PATCH", `/v1/users/${userId}/deals/${id}`, { stage: "qualified" })).status).toBe(200);
    const mended = await health();
    expect(mended.status).not.toBe("stalled");
    expect(mended.history).toHaveLength(3);
  });
});

describe("without HEALTH_API_KEYS", () => {
  it("serves no API (the scoring runs without it)", async () => {
    const bare = await runService(healthScorerService, await testServiceOptions(db, nats));
    try {
      const res = await fetch(`${bare.url}/v1/users/${randomUUID()}/contacts`, {
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      expect(res.status).toBe(404);
    } finally {
      await bare.stop("test done");
    }
  });
});
