import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlatformError } from "./errors.ts";
import { githubConnector } from "./github.connector.ts";
import { poll, rejection, resource, type SimulatorFixture, startSimulator } from "./test-support.ts";

const events = resource(githubConnector, "events");
const repositories = resource(githubConnector, "repositories");

let fixture: SimulatorFixture;
beforeAll(async () => {
  // 250 events and 250 repositories: three pages of 100 each.
  fixture = await startSimulator({ dataItems: { min: 250, max: 250 } });
});
afterAll(() => fixture.close());

describe("github events", () => {
  it("first sync finds the login, reads every page and keeps page one's ETag as the cursor", async () => {
    const { ctx, http } = await fixture.connect(githubConnector);
    const result = await poll(events, ctx, null);

    expect(result.pages.map((page) => page.records.length)).toEqual([100, 100, 50]);
    expect(result.pages.every((page) => !page.fullListing)).toBe(true);
    expect(new Set(result.records.map((r) => r.externalId)).size).toBe(250);
    expect(result.records[0]?.occurredAt).toBeInstanceOf(Date);
    expect(result.cursor).toMatch(/^W\/".+"$/);
    expect(http.requests[0]).toBe("/user");
    const login = /^\/users\/([^/]+)\/events/.exec(http.requests[1] ?? "")?.[1];
    expect(http.requests.slice(1)).toEqual([
      `/users/${login}/events?per_page=100`,
      `/users/${login}/events?per_page=100&page=2`,
      `/users/${login}/events?per_page=100&page=3`,
    ]);
  });

  it("answers notModified on a 304, then picks up new events once there are some", async () => {
    const connection = await fixture.connect(githubConnector);
    const first = await poll(events, connection.ctx, null);

    const unchanged = await poll(events, connection.ctx, first.cursor);
    expect(unchanged.pages).toEqual([
      { records: [], nextPageToken: null, fullListing: false, notModified: true },
    ]);
    expect(unchanged.cursor).toBe(first.cursor);

    const added = (await connection.addData("events", { count: 2 })) as Array<{ id: string }>;
    const changed = await poll(events, connection.ctx, first.cursor);
    expect(changed.pages[0]?.notModified).toBeUndefined();
    const ids = changed.records.map((r) => r.externalId);
    expect(ids.slice(0, 2).sort()).toEqual(added.map((e) => e.id).sort());
    expect(changed.cursor).not.toBe(first.cursor);
    expect(changed.cursor).toMatch(/^W\/".+"$/);
  });

  it("uses the connection's login when it has one, and GET /user when the account id is numeric", async () => {
    const probe = await fixture.connect(githubConnector);
    await events.fetchPage(probe.ctx, { cursor: null, pageToken: null });
    const login = /^\/users\/([^/]+)\//.exec(probe.http.requests[1] ?? "")?.[1] as string;

    const named = await fixture.connect(githubConnector, {
      connectionKey: probe.connectionKey,
      providerAccountId: login,
    });
    await events.fetchPage(named.ctx, { cursor: null, pageToken: null });
    expect(named.http.requests[0]).toBe(`/users/${login}/events?per_page=100`);

    const numeric = await fixture.connect(githubConnector, {
      connectionKey: probe.connectionKey,
      providerAccountId: "583231",
    });
    await events.fetchPage(numeric.ctx, { cursor: null, pageToken: null });
    expect(numeric.http.requests[0]).toBe("/user");
  });

  it("rejects an event without created_at as malformed, naming the event", async () => {
    const { ctx, http } = await fixture.connect(githubConnector);
    let id = "";
    http.mutate = (path, body) => {
      if (path === "/user") return body;
      const list = body as Array<Record<string, unknown>>;
      id = String(list[4]?.id);
      delete list[4]?.created_at;
      return list;
    };
    const error = await rejection(events.fetchPage(ctx, { cursor: null, pageToken: null }));
    expect(error).toBeInstanceOf(PlatformError);
    expect(error).toMatchObject({ kind: "malformed" });
    expect((error as Error).message).toContain(`GitHub events page 1: [4] (id "${id}").created_at: `);
  });
});

describe("github repositories", () => {
  it("lists every page through the Link header as a full listing", async () => {
    const { ctx, http } = await fixture.connect(githubConnector);
    const result = await poll(repositories, ctx, null);

    expect(result.pages.map((page) => page.records.length)).toEqual([100, 100, 50]);
    expect(result.pages.every((page) => page.fullListing)).toBe(true);
    expect(new Set(result.records.map((r) => r.externalId)).size).toBe(250);
    expect(http.requests).toEqual([
      "/user/repos?per_page=100&page=1",
      "/user/repos?per_page=100&page=2",
      "/user/repos?per_page=100&page=3",
    ]);
  });

  it("a later poll lists a new repository too", async () => {
    const connection = await fixture.connect(githubConnector);
    await poll(repositories, connection.ctx, null);
    const [added] = (await connection.addData("repos", { items: [{ name: "zz-brand-new" }] })) as Array<{
      id: number;
    }>;
    const again = await poll(repositories, connection.ctx, null);
    expect(again.records).toHaveLength(251);
    expect(again.records.map((r) => r.externalId)).toContain(String(added?.id));
  });

  it("rejects a repository whose id is not a number as malformed", async () => {
    const { ctx, http } = await fixture.connect(githubConnector);
    http.mutate = (_path, body) =>
      (body as Array<Record<string, unknown>>).map((repo) => ({ ...repo, id: "x" }));
    const error = await rejection(repositories.fetchPage(ctx, { cursor: null, pageToken: null }));
    expect(error).toMatchObject({ kind: "malformed" });
    expect((error as Error).message).toMatch(/GitHub repositories page 1: \[0\] \(id "x"\)\.id: /);
  });
});
