import { createTestDatabase, createTestNats, rawHttp, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RunningScheduler, startScheduler, TEST_API_TOKEN } from "../testing/fixtures.ts";

// The scheduler's API under hostile input, over real HTTP, the service started as main.ts starts it
// (its time limits from the env, short here). Every answer is checked, and so are job_runs and the
// outbox: a refused request must not start a run.

const nats = createTestNats("schedhostile");
let db: TestDatabase;
let scheduler: RunningScheduler;
let stored: string;

const auth = { authorization: `Bearer ${TEST_API_TOKEN}` };
type Detail = { path: string; message: string };

beforeAll(async () => {
  db = await createTestDatabase();
  scheduler = await startScheduler(db, nats, {
    SCHEDULES_EXTRA: "yearly-report=0 0 1 1 *",
    HTTP_REQUEST_TIMEOUT: "700ms",
    HTTP_HEADERS_TIMEOUT: "400ms",
    SCHEDULE_MANUAL_TRIGGER_INTERVAL: "1m",
  });
});

afterAll(async () => {
  await scheduler?.stop();
  await nats.cleanup();
  await db?.drop();
});

async function snapshot(): Promise<string> {
  const runs = await db.pool.query("SELECT * FROM job_runs ORDER BY id");
  const outbox = await db.pool.query("SELECT id FROM outbox_events ORDER BY id");
  return JSON.stringify([runs.rows, outbox.rows]);
}

beforeEach(async () => {
  stored = await snapshot();
});

function call(method: string, path: string, headers: Record<string, string> = auth) {
  return fetch(`${scheduler.url}${path}`, { method, headers });
}

async function details(res: Response): Promise<Detail[]> {
  expect(res.status).toBe(400);
  const body = (await res.json()) as { error: string; details: Detail[] };
  expect(body.error).toBe("bad_request");
  return body.details;
}

describe("manual triggers", () => {
  it("runs a schedule once for 20 triggers in a row; the others get 429 with Retry-After", async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => call("POST", "/schedules/yearly-report/trigger")),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(19);
    const refused = answers.find((r) => r.status === 429);
    expect(Number(refused?.headers.get("retry-after"))).toBeGreaterThan(50);
    expect(await refused?.json()).toMatchObject({
      error: "too_many_triggers",
      retryAfterSeconds: expect.any(Number),
    });
    const { rows } = await db.pool.query(
      "SELECT count(*)::int AS n FROM job_runs WHERE schedule = 'yearly-report'",
    );
    expect(rows[0].n).toBe(1);
  });

  it("limits each schedule on its own", async () => {
    expect((await call("POST", "/schedules/poll/trigger")).status).toBe(202);
    expect((await call("POST", "/schedules/poll/trigger")).status).toBe(429);
  });

  it("refuses hostile schedule names after authentication, starting nothing", async () => {
    expect((await call("POST", "/schedules/%00/trigger", {})).status).toBe(401);
    expect(await details(await call("POST", "/schedules/%00/trigger"))).toContainEqual({
      path: "params.name",
      message: expect.stringMatching(/NUL/),
    });
    expect(await details(await call("POST", "/schedules/%E2%80%8F%E2%80%8E/trigger"))).toContainEqual({
      path: "params.name",
      message: expect.stringMatching(/invisible/),
    });
    const long = await call("POST", `/schedules/${"x".repeat(3000)}/trigger`);
    expect(await details(long)).toContainEqual({ path: "params.name", message: expect.any(String) });
    expect(await snapshot()).toBe(stored);
  });

  it("cuts off a trigger whose body stalls, with a 408, starting nothing", async () => {
    const res = await rawHttp(
      scheduler.url,
      `POST /schedules/token-refresh/trigger HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_API_TOKEN}\r\n` +
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    );
    expect(res.closedByServer).toBe(true);
    expect(res.status).toBe(408);
    expect(res.json).toMatchObject({ error: "request_timeout" });
    expect(res.elapsedMs).toBeLessThan(1_700);
    expect(await snapshot()).toBe(stored);
  });

  it("cuts off headers that stop half-way", async () => {
    const res = await rawHttp(scheduler.url, "POST /schedules/token-refresh/trigger HTTP/1.1\r\nHost: x\r\n");
    expect(res.status).toBe(408);
    expect(res.elapsedMs).toBeLessThan(1_400);
    expect(await snapshot()).toBe(stored);
  });
});

describe("query errors name their location, as in every service", () => {
  it("answers query.limit, query.status, query.before, query.days and unknown fields", async () => {
    expect(await details(await call("GET", "/job-runs?limit=0"))).toContainEqual({
      path: "query.limit",
      message: expect.any(String),
    });
    expect((await details(await call("GET", "/job-runs?status=exploded"))).map((d) => d.path)).toEqual([
      "query.status",
    ]);
    expect((await details(await call("GET", "/job-runs?before=0000-13-45"))).map((d) => d.path)).toEqual([
      "query.before",
    ]);
    expect((await details(await call("GET", "/job-runs/stats?days=1e9"))).map((d) => d.path)).toEqual([
      "query.days",
    ]);
    expect(await details(await call("GET", "/job-runs?access_token=x"))).toEqual([
      { path: "query.access_token", message: "is not a known field" },
    ]);
    expect(await details(await call("GET", "/job-runs?schedule=a%00"))).toContainEqual({
      path: "query.schedule",
      message: expect.stringMatching(/NUL/),
    });
  });

  it("answers oversized headers and a malformed path in the format", async () => {
    const big = await rawHttp(
      scheduler.url,
      `GET /schedules HTTP/1.1\r\nHost: x\r\nX-A: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    expect(big.status).toBe(431);
    expect(big.json).toMatchObject({
      error: "request_header_fields_too_large",
      details: [{ path: "headers" }],
    });
    const badUrl = await call("POST", "/schedules/%E0%A4%A/trigger");
    expect(badUrl.status).toBe(400);
    expect(await badUrl.json()).toMatchObject({ error: "bad_request", details: [{ path: "url" }] });
  });
});
