import type { Bus } from "@syncwell/bus";
import { type EventOf, streams } from "@syncwell/contracts";
import type { CommonConfig } from "@syncwell/runtime";
import { type RunningService, runService } from "@syncwell/service";
import type { TestDatabase, TestNats } from "@syncwell/testing";

import { freePort } from "@syncwell/testing";

export { freePort };

import type { Config } from "../config.ts";
import { schedulerService } from "../service.ts";

/** Test helpers for the scheduler's in-process and child-process tests. */

export const TEST_API_TOKEN = "test-scheduler-token-0123456789";

/** Every built-in schedule off: a test turns on what it needs (through SCHEDULES_EXTRA, usually). */
export const ALL_BUILT_IN_OFF = {
  SCHEDULE_TOKEN_REFRESH: "off",
  SCHEDULE_POLL: "off",
  SCHEDULE_HEALTH_SWEEP: "off",
  SCHEDULE_DAILY_USER_CHECK: "off",
  SCHEDULE_WEEKLY_DIGEST: "off",
} as const;

export async function schedulerEnv(
  db: TestDatabase,
  nats: TestNats,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  return {
    NODE_ENV: "test",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: String(await freePort()),
    DATABASE_URL: db.url,
    NATS_URL: nats.url,
    NATS_PREFIX: nats.prefix,
    SCHEDULER_API_TOKEN: TEST_API_TOKEN,
    SHUTDOWN_TIMEOUT_MS: "10s",
    ...ALL_BUILT_IN_OFF,
    ...extra,
  };
}

export type RunningScheduler = RunningService<Config & CommonConfig>;

/** The scheduler in this process, as main.ts runs it, with the test's env. */
export async function startScheduler(
  db: TestDatabase,
  nats: TestNats,
  extra: Record<string, string> = {},
): Promise<RunningScheduler> {
  return runService(schedulerService, {
    env: await schedulerEnv(db, nats, extra),
    handleSignals: false,
    streamOverrides: nats.streamOverrides,
  });
}

export type StoredTick = {
  event: EventOf<"tick">;
  subject: string;
  msgId: string | undefined;
  traceparent: string | undefined;
};

/** Every tick in the test's TICKS stream, in stream order. */
export async function readTicks(bus: Bus): Promise<StoredTick[]> {
  const name = bus.naming.stream(streams.ticks);
  const info = await bus.jsm.streams.info(name).catch(() => undefined);
  if (!info || info.state.messages === 0) return [];
  const consumer = await bus.js.consumers.get(name);
  const out: StoredTick[] = [];
  for (let i = 0; i < info.state.messages; i++) {
    const m = await consumer.next({ expires: 2_000 });
    if (!m) break;
    out.push({
      event: m.json<EventOf<"tick">>(),
      subject: bus.naming.relative(m.subject),
      msgId: m.headers?.get("Nats-Msg-Id"),
      traceparent: m.headers?.get("traceparent"),
    });
  }
  return out;
}
