import type { Bus } from "@syncwell/bus";
import { finishJobRun } from "@syncwell/db";
import {
  createTestBus,
  createTestDatabase,
  createTestNats,
  type TestDatabase,
  waitFor,
} from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tickEventId } from "../domain/tick-id.ts";
import { type RunningScheduler, readTicks, startScheduler, TEST_API_TOKEN } from "../testing/fixtures.ts";

const nats = createTestNats("schedapi");
let db: TestDatabase;
let bus: Bus;
let scheduler: RunningScheduler;

beforeAll(async () => {
  db = await createTestDatabase();
  bus = await createTestBus(nats, "scheduler-test");
  // Only a yearly schedule is on: nothing fires by itself while the test runs.
  scheduler = await startScheduler(db, nats, {
    SCHEDULES_EXTRA: "yearly-report=0 0 1 1 *",
    SCHEDULE_WEEKLY_DIGEST: "0 8 * * 1",
    SCHEDULE_TIMEZONE: "Europe/Berlin",
    // Manual triggers unthrottled here; the limit has its own tests (hostile-input.test.ts).
    SCHEDULE_MANUAL_TRIGGER_INTERVAL: "0",
  });
});

afterAll(async () => {
  await scheduler?.stop();
  await bus?.close();
  await nats.cleanup();
  await db?.drop();
});

const auth = { authorization: `Bearer ${TEST_API_TOKEN}` };

function call(method: string, path: string, headers: Record<string, string> = auth) {
  return fetch(`${scheduler.url}${path}`, { method, headers });
}

type Triggered = {
  schedule: string;
  eventId: string;
  traceId: string | null;
  jobRunId: string;
  slot: string;
};

describe("POST /schedules/:name/trigger", () => {
  it("answers 401 with WWW-Authenticate without a token or with a wrong one", async () => {
    const none = await call("POST", "/schedules/yearly-report/trigger", {});
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect(await none.json()).toMatchObject({ error: "unauthorized" });

    const wrong = await call("POST", "/schedules/yearly-report/trigger", {
      authorization: `Bearer ${TEST_API_TOKEN}x`,
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toMatch(/^Bearer .*error="invalid_token"/);

    const basic = await call("POST", "/schedules/yearly-report/trigger", {
      authorization: `Basic ${TEST_API_TOKEN}`,
    });
    expect(basic.status).toBe(401);
    // Nothing ran.
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM job_runs");
    expect(rows[0].n).toBe(0);
  });

  it("answers 404 for an unknown schedule, listing the known ones", async () => {
    const res = await call("POST", "/schedules/nope/trigger");
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: string; message: string; schedules: string[] };
    expect(body.error).toBe("not_found");
    expect(body.schedules).toEqual([
      "token-refresh",
      "poll",
      "health-sweep",
      "daily-user-check",
      "weekly-digest",
      "yearly-report",
    ]);
    expect(body.message).toContain("yearly-report");
  });

  it("answers 202 with the ids, and the manual tick arrives", async () => {
    const before = Date.now();
    const res = await call("POST", "/schedules/yearly-report/trigger");
    expect(res.status).toBe(202);
    const body = (await res.json()) as Triggered;
    expect(body.schedule).toBe("yearly-report");
    expect(body.eventId).toBe(tickEventId("yearly-report", new Date(body.slot)));
    expect(body.jobRunId).toMatch(/^[0-9a-f-]{36}$/);
    // No telemetry SDK in this process: no trace to point at (main.test.ts covers the traced case).
    expect(body.traceId).toBeNull();
    expect(Date.parse(body.slot)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(body.slot)).toBeLessThanOrEqual(Date.now());

    const tick = await waitFor(
      async () => (await readTicks(bus)).find((t) => t.event.id === body.eventId),
      "the manual tick",
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    expect(tick.subject).toBe("tick.yearly-report");
    expect(tick.event.data).toEqual({
      schedule: "yearly-report",
      slot: body.slot,
      catchUp: false,
      manual: true,
      jobRunId: body.jobRunId,
    });
  });

  it("runs a switched-off schedule too, and without a trigger interval two triggers make two runs", async () => {
    const [a, b] = await Promise.all([
      call("POST", "/schedules/token-refresh/trigger"),
      call("POST", "/schedules/token-refresh/trigger"),
    ]);
    expect([a.status, b.status]).toEqual([202, 202]);
    const ids = [((await a.json()) as Triggered).jobRunId, ((await b.json()) as Triggered).jobRunId];
    expect(new Set(ids).size).toBe(2);
  });
});

describe("GET /schedules", () => {
  it("lists every schedule with its expression, time zone, next and last run", async () => {
    expect((await call("GET", "/schedules", {})).status).toBe(401);
    const res = await call("GET", "/schedules");
    expect(res.status).toBe(200);
    const { schedules } = (await res.json()) as {
      schedules: Array<{
        name: string;
        cron: string | null;
        timezone: string;
        enabled: boolean;
        nextRun: string | null;
        lastRun: { manual: boolean; status: string } | null;
      }>;
    };
    const byName = new Map(schedules.map((s) => [s.name, s]));
    expect(byName.get("weekly-digest")).toMatchObject({
      cron: "0 8 * * 1",
      timezone: "Europe/Berlin",
      enabled: true,
      lastRun: null,
    });
    const next = new Date(byName.get("weekly-digest")?.nextRun ?? "");
    expect(next.getTime()).toBeGreaterThan(Date.now());
    // Monday 08:00 in Berlin is 07:00 or 06:00 UTC.
    expect(next.getUTCDay()).toBe(1);
    expect([6, 7]).toContain(next.getUTCHours());
    expect(byName.get("poll")).toMatchObject({ cron: null, enabled: false, nextRun: null });
    expect(byName.get("yearly-report")?.lastRun).toMatchObject({ manual: true, status: "running" });
  });
});

describe("job runs", () => {
  it("lists runs and reports success rate and durations per schedule", async () => {
    const list = await call("GET", "/job-runs?schedule=token-refresh&limit=1");
    expect(list.status).toBe(200);
    const page = (await list.json()) as {
      jobRuns: Array<{ id: string; manual: boolean }>;
      nextBefore: string | null;
    };
    expect(page.jobRuns).toHaveLength(1);
    expect(page.nextBefore).not.toBeNull();
    const rest = (await (
      await call(
        "GET",
        `/job-runs?schedule=token-refresh&before=${encodeURIComponent(page.nextBefore ?? "")}`,
      )
    ).json()) as { jobRuns: Array<{ id: string }>; nextBefore: string | null };
    expect(rest.jobRuns).toHaveLength(1);
    expect(rest.nextBefore).toBeNull();

    const [first, second] = [page.jobRuns[0]?.id ?? "", rest.jobRuns[0]?.id ?? ""];
    await finishJobRun(db.pool, first, { status: "succeeded" });
    await finishJobRun(db.pool, second, { status: "failed", error: "provider down" });

    const stats = await call("GET", "/job-runs/stats?days=7");
    expect(stats.status).toBe(200);
    const body = (await stats.json()) as {
      days: number;
      schedules: Array<Record<string, unknown>>;
    };
    expect(body.days).toBe(7);
    expect(body.schedules.find((s) => s.schedule === "token-refresh")).toMatchObject({
      runs: 2,
      succeeded: 1,
      failed: 1,
      running: 0,
      manual: 2,
      successRate: 0.5,
    });
    const tokenStats = body.schedules.find((s) => s.schedule === "token-refresh");
    expect(typeof tokenStats?.p50DurationMs).toBe("number");
    expect(typeof tokenStats?.p95DurationMs).toBe("number");
    expect(body.schedules.find((s) => s.schedule === "yearly-report")).toMatchObject({
      runs: 1,
      running: 1,
      successRate: null,
      p50DurationMs: null,
    });
  });

  it("rejects bad query parameters with 400", async () => {
    expect((await call("GET", "/job-runs?limit=0")).status).toBe(400);
    expect((await call("GET", "/job-runs?status=exploded")).status).toBe(400);
    expect((await call("GET", "/job-runs/stats?days=abc")).status).toBe(400);
    expect((await call("GET", "/job-runs/stats", {})).status).toBe(401);
  });
});
