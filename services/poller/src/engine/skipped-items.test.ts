// Items a connector cannot use: skipped with a counted reason while their page and poll go on.
import { randomBytes } from "node:crypto";
import type { Logger } from "@syncwell/telemetry";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Connector } from "../adapters/connectors/connector.ts";
import type { ClaimedSyncState } from "../repositories/poll-claims.repository.ts";
import { FakePlatform, fakeConnector, items } from "../testing/fake-platform.ts";
import {
  createConnection,
  createUser,
  type IngestedData,
  outboxEvents,
  storedRecords,
  testCipher,
  testEngine,
} from "../testing/fixtures.ts";
import { pollerMetrics } from "./metrics.ts";
import type { RunnerDeps } from "./poll-runner.ts";
import { reportSkipped } from "./prepare-page.ts";

let db: TestDatabase;
let platform: FakePlatform;
const cipher = testCipher();

beforeAll(async () => {
  db = await createTestDatabase({ poolMax: 10 });
  platform = await new FakePlatform(`s${randomBytes(4).toString("hex")}`).start();
});

afterAll(async () => {
  await platform?.close();
  await db?.drop();
});

/** The fake platform's connector, leaving out every item whose id ends in 3, as a connector skips one. */
function skippingConnector(name: string): Connector {
  const base = fakeConnector({ platform: name, provider: "github", baseUrl: platform.url, pageSize: 10 });
  return {
    ...base,
    resources: base.resources.map((resource) => ({
      ...resource,
      async fetchPage(ctx, position) {
        const page = await resource.fetchPage(ctx, position);
        const bad = (id: string) => id.endsWith("3");
        return {
          ...page,
          records: page.records.filter((record) => !bad(record.externalId)),
          skipped: page.records
            .filter((record) => bad(record.externalId))
            .map((record) => ({ id: record.externalId, reason: "title: missing" })),
        };
      },
    })),
  };
}

describe("skipped items", () => {
  it("are counted in the run, in data.ingested and in the metric; the rest of every page is stored", async () => {
    const name = platform.name;
    const token = `tok-${randomBytes(8).toString("hex")}`;
    platform.setItems(token, items("a", 25));
    const userId = await createUser(db.pool);
    const connectionId = await createConnection(db.pool, cipher, {
      userId,
      provider: "github",
      accessToken: token,
      scopes: [],
    });
    const metric = pollerMetrics().itemsSkipped;
    const labels = { platform: name, resource: "items", reason: "title: missing" };
    const before = (await metric.get()).values.find((v) => v.labels.platform === name)?.value ?? 0;

    const engine = testEngine(db.pool, [{ connector: skippingConnector(name) }]);
    const summary = await engine.run();

    expect(summary).toMatchObject({ polled: 1, failed: 0, records_added: 22, items_skipped: 3 });
    expect(await storedRecords(db.pool, connectionId)).toHaveLength(22);
    const [event] = await outboxEvents<IngestedData>(db.pool, "data.ingested", connectionId);
    expect(event?.data.counts).toEqual({ added: 22, updated: 0, unchanged: 0, deleted: 0, skipped: 3 });
    const after = (await metric.get()).values.find(
      (v) => v.labels.platform === labels.platform && v.labels.reason === labels.reason,
    );
    expect((after?.value ?? 0) - before).toBe(3);
    await engine.stop();
  });

  it("are named in one log line per page, by id and reason only", () => {
    const warn = vi.fn();
    const metrics = pollerMetrics(new Registry());
    const skipped = Array.from({ length: 25 }, (_, i) => ({
      id: i === 0 ? null : `m-${i}`,
      reason: i % 2 === 0 ? "id: missing" : "start: not a date or date-time",
    }));
    reportSkipped(
      { metrics } as unknown as RunnerDeps,
      { platform: "gmail", resource: "messages" } as ClaimedSyncState,
      skipped,
      { warn } as unknown as Logger,
    );
    expect(warn).toHaveBeenCalledTimes(1);
    const [fields, message] = warn.mock.calls[0] as [{ skipped: number; items: unknown[] }, string];
    expect(fields.skipped).toBe(25);
    expect(fields.items).toEqual(skipped.slice(0, 20));
    expect(message).toMatch(/^skipped items/);
  });
});
