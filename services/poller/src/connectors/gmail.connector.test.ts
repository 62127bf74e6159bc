import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CursorExpiredError, PlatformError } from "./errors.ts";
import { gmailConnector } from "./gmail.connector.ts";
import { poll, rejection, resource, type SimulatorFixture, startSimulator } from "./test-support.ts";

const messages = resource(gmailConnector, "messages");
const METADATA_ONLY = ["https://www.googleapis.com/auth/gmail.metadata"];

let fixture: SimulatorFixture;
beforeAll(async () => {
  // 130 messages: list pages of 100 and 30.
  fixture = await startSimulator({ dataItems: { min: 130, max: 130 } });
});
afterAll(() => fixture.close());

describe("gmail messages: full sync", () => {
  it("takes the profile's historyId, lists the window page by page and fetches each message", async () => {
    const { ctx, http } = await fixture.connect(gmailConnector);
    const result = await poll(messages, ctx, null);

    expect(result.pages.map((page) => page.records.length)).toEqual([100, 30]);
    expect(result.pages.every((page) => !page.fullListing)).toBe(true);
    expect(new Set(result.records.map((r) => r.externalId)).size).toBe(130);
    expect(http.requests[0]).toBe("/gmail/v1/users/me/profile");
    const after = Math.floor(ctx.windowStart.getTime() / 1000);
    expect(http.requests[1]).toBe(`/gmail/v1/users/me/messages?q=after%3A${after}&maxResults=100`);
    expect(http.requests).toContain(
      `/gmail/v1/users/me/messages/${result.records[0]?.externalId}?format=metadata&metadataHeaders=From&metadataHeaders=To&metadataHeaders=Cc&metadataHeaders=Subject&metadataHeaders=Date`,
    );
    // The profile is read once per poll, before the listing, not again for the second page.
    expect(http.requests.filter((r) => r.endsWith("/profile"))).toHaveLength(1);
    expect(result.cursor).toMatch(/^\d+$/);
    for (const record of result.records) {
      expect(record.occurredAt?.getTime()).toBe(
        Number((record.payload as { internalDate: string }).internalDate),
      );
      expect(record.communication?.channel).toBe("email");
      expect(record.communication?.from).toMatch(/@/);
      expect(record.communication?.to.length).toBeGreaterThan(0);
    }
  });

  it("lists only the messages after the window start", async () => {
    const probe = await fixture.connect(gmailConnector);
    const all = await poll(messages, probe.ctx, null);
    const times = all.records.map((r) => r.occurredAt?.getTime() ?? 0).sort((a, b) => b - a);
    const windowStart = new Date((times[9] as number) - 1);

    const windowed = await fixture.connect(gmailConnector, {
      connectionKey: probe.connectionKey,
      windowStart,
    });
    const result = await poll(messages, windowed.ctx, null);
    expect(result.records).toHaveLength(10);
    expect(result.records.every((r) => (r.occurredAt?.getTime() ?? 0) >= windowStart.getTime())).toBe(true);
  });

  it("with only the metadata scope (no search allowed) lists newest first and stops at the window", async () => {
    const probe = await fixture.connect(gmailConnector);
    const all = await poll(messages, probe.ctx, null);
    const times = all.records.map((r) => r.occurredAt?.getTime() ?? 0).sort((a, b) => b - a);
    const windowStart = new Date((times[9] as number) - 1);

    const limited = await fixture.connect(gmailConnector, {
      connectionKey: probe.connectionKey,
      scopes: METADATA_ONLY,
      windowStart,
    });
    const result = await poll(messages, limited.ctx, null);
    expect(result.pages).toHaveLength(1);
    expect(result.records).toHaveLength(10);
    expect(limited.http.requests[1]).toBe("/gmail/v1/users/me/messages?maxResults=100");
    expect(result.cursor).toMatch(/^\d+$/);
  });
});

describe("gmail messages: incremental", () => {
  it("reads history after the cursor and fetches only the added messages", async () => {
    const connection = await fixture.connect(gmailConnector);
    const first = await poll(messages, connection.ctx, null);
    const added = (await connection.addData("messages", { count: 3 })) as Array<{ id: string }>;

    const second = await poll(messages, connection.ctx, first.cursor);
    expect(connection.http.requests).toContain(
      `/gmail/v1/users/me/history?startHistoryId=${first.cursor}&historyTypes=messageAdded&maxResults=100`,
    );
    expect(second.records.map((r) => r.externalId).sort()).toEqual(added.map((m) => m.id).sort());
    expect(BigInt(second.cursor as string)).toBeGreaterThan(BigInt(first.cursor as string));

    const third = await poll(messages, connection.ctx, second.cursor);
    expect(third.records).toHaveLength(0);
    expect(third.cursor).toBe(second.cursor);
  });

  it("pages through a long history", async () => {
    const connection = await fixture.connect(gmailConnector);
    const first = await poll(messages, connection.ctx, null);
    await connection.addData("messages", { count: 150 });

    const second = await poll(messages, connection.ctx, first.cursor);
    expect(second.pages.map((page) => page.records.length)).toEqual([100, 50]);
    expect(new Set(second.records.map((r) => r.externalId)).size).toBe(150);
    expect(second.pages[0]?.nextCursor).toBeUndefined();
  });

  it("parses From, To and Cc with quoted names and any case; marks sent mail as from the user", async () => {
    const connection = await fixture.connect(gmailConnector);
    const first = await poll(messages, connection.ctx, null);
    const [inbound, outbound] = (await connection.addData("messages", {
      items: [
        {
          from: '"Smith, Alice" <Alice.Smith@Example.com>',
          to: ["Bob Jones <BOB@Corp.io>", '"Doe, Jane (Ops)" <jane@ops.example>'],
          cc: ["carol@x.io"],
          subject: "Contract",
        },
        { to: ["Dave <dave@d.io>"], subject: "Re: Contract" },
      ],
    })) as Array<{ id: string }>;

    const second = await poll(messages, connection.ctx, first.cursor);
    const byId = new Map(second.records.map((r) => [r.externalId, r]));
    expect(byId.get(inbound?.id as string)?.communication).toEqual({
      channel: "email",
      from: "Alice.Smith@Example.com",
      to: ["BOB@Corp.io", "jane@ops.example", "carol@x.io"],
      fromSelf: false,
    });
    expect(byId.get(outbound?.id as string)?.communication).toMatchObject({
      channel: "email",
      to: ["dave@d.io"],
      fromSelf: true,
    });
  });

  it("leaves drafts out of communication but stores them", async () => {
    const connection = await fixture.connect(gmailConnector);
    const first = await poll(messages, connection.ctx, null);
    const [draft] = (await connection.addData("messages", {
      items: [{ to: ["x@y.io"], labelIds: ["DRAFT"] }],
    })) as Array<{ id: string }>;
    const second = await poll(messages, connection.ctx, first.cursor);
    expect(second.records).toHaveLength(1);
    expect(second.records[0]?.externalId).toBe(draft?.id);
    expect(second.records[0]?.communication).toBeUndefined();
  });

  it("throws CursorExpiredError when Gmail no longer has the history (404), and a full sync recovers", async () => {
    const connection = await fixture.connect(gmailConnector);
    const first = await poll(messages, connection.ctx, null);
    await connection.expireCursors("gmail");

    const error = await rejection(
      messages.fetchPage(connection.ctx, { cursor: first.cursor, pageToken: null }),
    );
    expect(error).toBeInstanceOf(CursorExpiredError);

    const resync = await poll(messages, connection.ctx, null);
    expect(resync.records).toHaveLength(130);
    await connection.addData("messages", { count: 1 });
    const next = await poll(messages, connection.ctx, resync.cursor);
    expect(next.records).toHaveLength(1);
  });
});

describe("gmail messages: failures", () => {
  it("stops fetching a page's messages once one request fails", async () => {
    const connection = await fixture.connect(gmailConnector);
    await connection.addFault({
      path: "/gmail/gmail/v1/users/me/messages/",
      fault: { kind: "status", status: 429, retryAfter: 30 },
    });
    const error = await rejection(messages.fetchPage(connection.ctx, { cursor: null, pageToken: null }));
    expect(error).toMatchObject({ kind: "rate_limited", status: 429, retryAfterMs: 30_000 });
    // The page lists 100 messages; only those already in flight were fetched.
    const fetched = connection.http.requests.filter((r) => /\/messages\/[0-9a-f]+\?/.test(r));
    expect(fetched.length).toBeLessThan(20);
  });
});

describe("gmail messages: malformed payloads", () => {
  it("names the message whose internalDate is missing", async () => {
    const { ctx, http } = await fixture.connect(gmailConnector);
    let victim = "";
    http.mutate = (path, body) => {
      if (!/\/messages\/[0-9a-f]+$/.test(path) || victim !== "") return body;
      victim = path.split("/").at(-1) as string;
      const { internalDate: _dropped, ...rest } = body as Record<string, unknown>;
      return rest;
    };
    const error = await rejection(messages.fetchPage(ctx, { cursor: null, pageToken: null }));
    expect(error).toBeInstanceOf(PlatformError);
    expect(error).toMatchObject({ kind: "malformed" });
    expect((error as Error).message).toMatch(
      new RegExp(`^malformed Gmail message ${victim}: internalDate: `),
    );
  });

  it("rejects a history page without historyId", async () => {
    const connection = await fixture.connect(gmailConnector);
    const first = await poll(messages, connection.ctx, null);
    connection.http.mutate = (path, body) => (path.endsWith("/history") ? { history: [] } : body);
    const error = await rejection(
      messages.fetchPage(connection.ctx, { cursor: first.cursor, pageToken: null }),
    );
    expect((error as Error).message).toMatch(/^malformed Gmail history page: historyId: /);
  });
});
