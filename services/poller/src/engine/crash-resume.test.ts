// A replica killed with SIGKILL in the middle of a multi-page poll: the pages it committed stay,
// its claim lapses after the lease, and the next replica resumes from the saved page token with no
// gap and no duplicate.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type TestDatabase, waitFor } from "@syncwell/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { FakePlatform, fakeConnector, items } from "../testing/fake-platform.ts";
import {
  createConnection,
  createUser,
  type IngestedData,
  outboxEvents,
  storedRecords,
  syncState,
  TEST_KEY,
  testCipher,
  testEngine,
} from "../testing/fixtures.ts";

let db: TestDatabase;
let platform: FakePlatform;

beforeAll(async () => {
  db = await createTestDatabase();
  platform = await new FakePlatform("crash").start();
});

afterAll(async () => {
  await platform?.close();
  await db?.drop();
});

it("resumes a poll whose replica was SIGKILLed between pages", async () => {
  const name = `crash${randomBytes(3).toString("hex")}`;
  const token = `tok-${randomBytes(8).toString("hex")}`;
  platform.setItems(token, items("k", 23));
  const userId = await createUser(db.pool);
  const connectionId = await createConnection(db.pool, testCipher(), {
    userId,
    provider: "github",
    accessToken: token,
    scopes: [name],
  });
  // The doomed replica gets pages 0 and 5; the request for page 10 never gets an answer.
  platform.addFault({ token, page: "10", hang: true });
  const leaseMs = 1_500;
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL("../testing/poll-child.ts", import.meta.url))],
    {
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: db.url,
        FAKE_PLATFORM: name,
        FAKE_PLATFORM_URL: platform.url,
        FAKE_SCOPE: name,
        FAKE_PAGE_SIZE: "5",
        LEASE_MS: String(leaseMs),
        TOKEN_KEY_B64: TEST_KEY,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout.on("data", (d) => {
    output += String(d);
  });
  child.stderr.on("data", (d) => {
    output += String(d);
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on("exit", (_code, signal) => resolve(signal)),
  );
  await waitFor(() => platform.requestsFor(token).some((r) => r.query.page === "10"), `page 10 (${output})`, {
    timeoutMs: 20_000,
  });
  child.kill("SIGKILL");
  expect(await exited).toBe("SIGKILL");

  const orphaned = await syncState(db.pool, connectionId, name);
  expect(orphaned).toMatchObject({ page_token: "10", full_listing: true });
  expect(orphaned?.claimed_by).toMatch(/^doomed-replica\//);
  expect((await storedRecords(db.pool, connectionId)).length).toBe(10);

  const survivor = testEngine(
    db.pool,
    [
      {
        connector: fakeConnector({
          platform: name,
          provider: "github",
          baseUrl: platform.url,
          requiredScopes: [name],
          pageSize: 5,
        }),
      },
    ],
    { settings: { leaseMs: 30_000 } },
  );
  // While the dead replica's lease runs, its row is left alone.
  expect(await survivor.run()).toMatchObject({ polled: 0 });
  await new Promise((resolve) => setTimeout(resolve, leaseMs + 200));
  expect(await survivor.run()).toMatchObject({ polled: 1, records_added: 13 });

  expect(platform.requestsFor(token).map((r) => r.query.page ?? "0")).toEqual([
    "0",
    "5",
    "10",
    "10",
    "15",
    "20",
  ]);
  const records = await storedRecords(db.pool, connectionId);
  expect(records.map((r) => r.external_id)).toEqual(items("k", 23).map((i) => i.id));
  expect(records.every((r) => r.deleted_at === null)).toBe(true);
  const events = await outboxEvents<IngestedData>(db.pool, "data.ingested", connectionId);
  expect(events.map((e) => e.data.counts)).toEqual([{ added: 23, updated: 0, unchanged: 0, deleted: 0 }]);
  expect(await syncState(db.pool, connectionId, name)).toMatchObject({
    cursor: "23",
    page_token: null,
    claimed_by: null,
  });
});
