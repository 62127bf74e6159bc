import type { gmail_v1 } from "@googleapis/gmail";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  poll,
  rejection,
  resource,
  type SimulatorFixture,
  startSimulator,
} from "../../testing/connector-support.ts";
import { CursorExpiredError, PlatformError } from "./errors.ts";
import { gmailConnector } from "./gmail.connector.ts";

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
    // The metadata of a page of 100 comes in two batches of 50, the last page's 30 in one.
    expect(http.requests.slice(2)).toEqual([
      "POST /batch/gmail/v1",
      "POST /batch/gmail/v1",
      expect.stringMatching(/^\/gmail\/v1\/users\/me\/messages\?.*pageToken=/),
      "POST /batch/gmail/v1",
    ]);
    expect(http.posted.map((body) => body.match(/^GET /gm)?.length)).toEqual([50, 50, 30]);
    expect(http.posted.join("")).toContain(
      `GET /gmail/v1/users/me/messages/${result.records[0]?.externalId}?format=metadata&metadataHeaders=From&metadataHeaders=To&metadataHeaders=Cc&metadataHeaders=Subject&metadataHeaders=Date\r\n`,
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

describe("gmail messages: failures in a batch", () => {
  const MESSAGES = "/gmail/gmail/v1/users/me/messages/";

  it("skips a message deleted between the listing and the batch (a 404 part)", async () => {
    const { ctx, http } = await fixture.connect(gmailConnector);
    http.mutate = (path, body) => {
      if (!path.endsWith("/messages")) return body;
      const list = body as { messages: Array<{ id: string; threadId: string }> };
      return { ...list, messages: [{ id: "ffffffffffffffff", threadId: "gone" }, ...list.messages] };
    };
    const result = await poll(messages, ctx, null);
    expect(result.records).toHaveLength(130);
    expect(result.records.some((r) => r.externalId === "ffffffffffffffff")).toBe(false);
  });

  it("fails the page with a part's 429, its Retry-After, ahead of another part's 500", async () => {
    const connection = await fixture.connect(gmailConnector);
    await connection.addFault({ path: MESSAGES, fault: { kind: "status", status: 500 } });
    await connection.addFault({
      path: MESSAGES,
      fault: { kind: "status", status: 429, retryAfter: 30, error: "userRateLimitExceeded" },
    });
    const error = await rejection(messages.fetchPage(connection.ctx, { cursor: null, pageToken: null }));
    expect(error).toMatchObject({ kind: "rate_limited", status: 429, retryAfterMs: 30_000 });
    expect((error as Error).message).toMatch(
      /^GET \/gmail\/v1\/users\/me\/messages\/[0-9a-f]+ \(in a batch\) returned 429: /,
    );
  });

  it("fails the page as transient for a part's 500, and asks for a new token for a part's 401", async () => {
    const connection = await fixture.connect(gmailConnector);
    await connection.addFault({ path: MESSAGES, fault: { kind: "status", status: 500 } });
    const position = { cursor: null, pageToken: null };
    expect(await rejection(messages.fetchPage(connection.ctx, position))).toMatchObject({
      kind: "transient",
      status: 500,
    });
    await connection.addFault({ path: MESSAGES, fault: { kind: "status", status: 401 } });
    expect(await rejection(messages.fetchPage(connection.ctx, position))).toMatchObject({
      kind: "unauthorized",
      status: 401,
    });
    // Without faults the same page goes through.
    expect((await messages.fetchPage(connection.ctx, position)).records).toHaveLength(100);
  });

  it("matches parts to messages by Content-ID, whatever their order", async () => {
    const { ctx, http } = await fixture.connect(gmailConnector);
    http.mutateText = (_path, text) => editParts(text, (parts) => parts.reverse());
    const page = await messages.fetchPage(ctx, { cursor: null, pageToken: null });
    const asked = (http.posted[0] ?? "").match(/(?<=messages\/)[0-9a-f]+/g) ?? [];
    expect(asked).toHaveLength(50);
    expect(page.records.slice(0, 50).map((r) => r.externalId)).toEqual(asked);
  });

  it("refuses a batch answer that is cut off (malformed)", async () => {
    const connection = await fixture.connect(gmailConnector);
    await connection.addFault({ path: "/gmail/batch/gmail/v1", fault: { kind: "malformed" } });
    const error = await rejection(messages.fetchPage(connection.ctx, { cursor: null, pageToken: null }));
    expect(error).toBeInstanceOf(PlatformError);
    expect(error).toMatchObject({ kind: "malformed" });
    expect((error as Error).message).toMatch(/^malformed Gmail batch answer: /);
  });

  it("refuses a part whose body is not JSON, naming the message", async () => {
    const connection = await fixture.connect(gmailConnector);
    await connection.addFault({ path: MESSAGES, fault: { kind: "malformed" } });
    const error = await rejection(messages.fetchPage(connection.ctx, { cursor: null, pageToken: null }));
    expect(error).toMatchObject({ kind: "malformed" });
    expect((error as Error).message).toMatch(
      /^malformed Gmail message [0-9a-f]+: the batch part answering it \(200\) is not JSON$/,
    );
  });

  it("refuses an answer whose parts do not answer exactly the messages asked", async () => {
    const { ctx, http } = await fixture.connect(gmailConnector);
    const reason = async (edit: (text: string) => string): Promise<string> => {
      http.mutateText = (_path, text) => edit(text);
      return ((await rejection(messages.fetchPage(ctx, { cursor: null, pageToken: null }))) as Error).message;
    };
    expect(await reason((text) => text.replace("<response-item-3>", "<response-item-2>"))).toBe(
      "malformed Gmail batch answer: two parts answer <response-item-2>",
    );
    expect(await reason((text) => text.replace("<response-item-3>", "<response-item-99>"))).toBe(
      "malformed Gmail batch answer: a part has the unknown Content-ID <response-item-99>",
    );
    expect(await reason((text) => text.replace("Content-ID: <response-item-3>\r\n", ""))).toBe(
      "malformed Gmail batch answer: a part has no Content-ID",
    );
    expect(await reason((text) => editParts(text, (parts) => parts.filter((_part, i) => i !== 3)))).toMatch(
      /^malformed Gmail batch answer: no part answers message [0-9a-f]+$/,
    );
  });
});

/** Rewrites the parts of a multipart answer as the simulator writes it (CRLF, one boundary). */
function editParts(text: string, edit: (parts: string[]) => string[]): string {
  const delimiter = text.slice(0, text.indexOf("\r\n"));
  const close = `${delimiter}--\r\n`;
  expect(text.endsWith(close)).toBe(true);
  const parts = text.slice(0, -close.length).split(`${delimiter}\r\n`).slice(1);
  return `${edit(parts)
    .map((part) => `${delimiter}\r\n${part}`)
    .join("")}${close}`;
}

describe("gmail messages: malformed payloads", () => {
  it("skips a message without an id, naming the id asked for, and stores the rest of the page", async () => {
    const { ctx, http } = await fixture.connect(gmailConnector);
    let victim = "";
    http.mutateText = (_path, text) =>
      editMessages(text, (message, i) => {
        if (i !== 3 || victim !== "") return message; // in the first batch only
        victim = message.id as string;
        const { id: _id, ...rest } = message;
        return rest;
      });
    const page = await messages.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.records).toHaveLength(99);
    expect(page.skipped).toEqual([
      { id: victim, reason: "id: Invalid input: expected string, received undefined" },
    ]);
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

describe("gmail messages: values Google's description allows", () => {
  it("stores messages without internalDate, payload.headers or threadId", async () => {
    const { ctx, http } = await fixture.connect(gmailConnector);
    const dates = new Map<string, string>();
    http.mutateText = (_path, text) =>
      editMessages(text, (message, i) => {
        const date = message.payload?.headers?.find((h) => h.name === "Date")?.value;
        if (date) dates.set(message.id as string, date);
        switch (i) {
          case 0: // Its time then comes from the Date header.
            return { ...message, internalDate: undefined };
          case 1:
            return { ...message, payload: { mimeType: "text/plain" } };
          case 2:
            return { ...message, threadId: null, labelIds: null };
          case 3: // No time at all: stored, but no communication event claiming it happened now.
            return { ...message, internalDate: null, payload: {} };
          default:
            return message;
        }
      });
    const page = await messages.fetchPage(ctx, { cursor: null, pageToken: null });
    expect(page.skipped).toEqual([]);
    const [noDate, noHeaders, noThread, nothing] = page.records;
    expect(noDate?.occurredAt).toEqual(new Date(dates.get(noDate?.externalId as string) as string));
    expect(noDate?.communication?.from).toMatch(/@/);
    expect(noHeaders?.occurredAt).toBeInstanceOf(Date);
    expect(noHeaders?.communication).toMatchObject({ from: null, to: [] });
    expect(noThread?.communication?.from).toMatch(/@/);
    expect(nothing?.occurredAt).toBeUndefined();
    expect(nothing?.communication).toBeUndefined();
  });

  it("lists with entries of history and listings that carry no message", async () => {
    const connection = await fixture.connect(gmailConnector);
    const first = await poll(messages, connection.ctx, null);
    const [added] = (await connection.addData("messages", { count: 1 })) as Array<{ id: string }>;
    connection.http.mutate = (path, body) => {
      if (!path.endsWith("/history")) return body;
      const page = body as gmail_v1.Schema$ListHistoryResponse;
      const history: gmail_v1.Schema$History[] = [
        { id: null },
        { messagesAdded: [{}, { message: { threadId: "t" } }] },
        ...(page.history ?? []),
      ];
      return { ...page, history };
    };
    const second = await poll(messages, connection.ctx, first.cursor);
    expect(second.records.map((r) => r.externalId)).toEqual([added?.id]);
  });
});

/** Rewrites each message of a batch answer (typed as Google describes it), in the order of its parts. */
function editMessages(
  text: string,
  edit: (message: gmail_v1.Schema$Message, index: number) => gmail_v1.Schema$Message,
): string {
  return editParts(text, (parts) =>
    parts.map((part, i) => {
      const start = part.indexOf("{");
      const end = part.lastIndexOf("}") + 1;
      const json = JSON.stringify(edit(JSON.parse(part.slice(start, end)) as gmail_v1.Schema$Message, i));
      return `${part.slice(0, start)}${json}${part.slice(end)}`.replace(
        /content-length: \d+/i,
        `Content-Length: ${Buffer.byteLength(json)}`,
      );
    }),
  );
}
