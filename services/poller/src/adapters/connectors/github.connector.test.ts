import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  poll,
  rejection,
  resource,
  type SimulatorFixture,
  startSimulator,
} from "../../testing/connector-support.ts";
import { githubConnector } from "./github.connector.ts";
import { githubExample } from "./github-openapi.ts";

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

  it("skips an event without an id, and stores one with a null created_at or type without a time", async () => {
    const { ctx, http } = await fixture.connect(githubConnector);
    let ids: string[] = [];
    http.mutate = (path, body) => {
      if (path === "/user") return body;
      const list = body as Array<Record<string, unknown>>;
      ids = list.map((event) => String(event.id));
      delete list[4]?.id;
      // The description makes both nullable.
      if (list[5]) list[5].created_at = null;
      if (list[6]) list[6].type = null;
      return list;
    };
    const page = await events.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.records).toHaveLength(99);
    expect(page.skipped).toEqual([
      { id: null, reason: "id: Invalid input: expected string, received undefined" },
    ]);
    const byId = new Map(page.records.map((record) => [record.externalId, record]));
    expect(byId.get(ids[5] as string)?.occurredAt).toBeUndefined();
    expect(byId.get(ids[6] as string)?.occurredAt).toBeInstanceOf(Date);
    expect(page.nextPageToken).not.toBeNull();
  });
});

describe("github: GitHub's own examples and the values its description allows", () => {
  it("reads the login of GET /user's examples, and a managed user's login with an underscore", async () => {
    for (const example of [
      "private-user-response-with-public-and-private-profile-information",
      "private-user-response-with-public-profile-information",
    ]) {
      const { ctx, http } = await fixture.connect(githubConnector);
      const user = githubExample<{ login: string }>(example);
      http.mutate = (path, body) => (path === "/user" ? user : body);
      await rejection(events.fetchPage(ctx, { cursor: null, pageToken: null })); // octocat is not the token's user
      expect(http.requests[1]).toBe("/users/octocat/events?per_page=100");
    }
    const { ctx, http } = await fixture.connect(githubConnector);
    http.mutate = (path, body) => (path === "/user" ? { ...(body as object), login: "jane_acme" } : body);
    await rejection(events.fetchPage(ctx, { cursor: null, pageToken: null }));
    expect(http.requests[1]).toBe("/users/jane_acme/events?per_page=100");

    const named = await fixture.connect(githubConnector, { providerAccountId: "jane_acme" });
    await rejection(events.fetchPage(named.ctx, { cursor: null, pageToken: null }));
    expect(named.http.requests[0]).toBe("/users/jane_acme/events?per_page=100");
  });

  it("stores every event of the official example, and events of types it does not know", async () => {
    const { ctx, http } = await fixture.connect(githubConnector);
    const official = githubExample<Array<Record<string, unknown>>>("user-events-items");
    const unknown = {
      ...official[0],
      id: "98765432101",
      type: "SponsorshipEvent",
      payload: { action: "created", tier: { name: "Gold" } },
      org: official[0]?.actor,
    };
    http.mutate = (path, body) => (path === "/user" ? body : [...official, unknown]);
    const page = await events.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.skipped).toEqual([]);
    expect(page.records.map((record) => record.externalId)).toEqual([
      ...official.map((event) => String(event.id)),
      "98765432101",
    ]);
    expect(page.records[0]?.occurredAt).toEqual(new Date(String(official[0]?.created_at)));
    expect(page.records[0]?.payload).toEqual(official[0]);
  });

  it("stores the repositories of the official example; one without an id is skipped", async () => {
    const { ctx, http } = await fixture.connect(githubConnector);
    const official = githubExample<Array<Record<string, unknown>>>("repository-items-default-response");
    http.mutate = () => [...official, { name: "no-id", full_name: "octocat/no-id" }];
    const page = await repositories.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.records.map((record) => record.externalId)).toEqual(official.map((repo) => String(repo.id)));
    expect(page.records[0]?.payload).toEqual(official[0]);
    expect(page.skipped).toEqual([
      { id: null, reason: "id: Invalid input: expected number, received undefined" },
    ]);
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

  it("skips a repository whose id is not a number and stores the others", async () => {
    const { ctx, http } = await fixture.connect(githubConnector);
    http.mutate = (_path, body) =>
      (body as Array<Record<string, unknown>>).map((repo, i) => (i === 2 ? { ...repo, id: "x" } : repo));
    const page = await repositories.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.records).toHaveLength(99);
    expect(page.skipped).toEqual([
      { id: "x", reason: "id: Invalid input: expected number, received string" },
    ]);
    expect(page.nextPageToken).toBe("2");
  });
});
