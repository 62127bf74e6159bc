import { describe, expect, it } from "vitest";
import { type ApiResponse, apiGet, startSimulator, type TestSimulator } from "../../../test-support.ts";

type MessageList = {
  messages?: Array<{ id: string; threadId: string }>;
  nextPageToken?: string;
  resultSizeEstimate: number;
};
type Message = {
  id: string;
  threadId: string;
  labelIds: string[];
  snippet: string;
  historyId: string;
  internalDate: string;
  payload?: { headers: Array<{ name: string; value: string }>; body: { size: number; data?: string } };
  raw?: string;
};
type History = {
  history?: Array<{
    id: string;
    messages: Array<{ id: string; threadId: string }>;
    messagesAdded: Array<{ message: { id: string; threadId: string; labelIds: string[] } }>;
  }>;
  nextPageToken?: string;
  historyId: string;
};
type Profile = { emailAddress: string; messagesTotal: number; threadsTotal: number; historyId: string };

function gmail(sim: TestSimulator, path: string): string {
  return `${sim.control.apiUrl("gmail")}/gmail/v1/users/me${path}`;
}

function header(message: Message, name: string): string | undefined {
  return message.payload?.headers.find((h) => h.name === name)?.value;
}

describe("Gmail data endpoints", () => {
  it("lists message ids page by page to the end and gets each one's metadata headers", async () => {
    const sim = await startSimulator({ dataItems: { min: 45, max: 45 } });
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gm-1" });
    const ids: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const query = pageToken === undefined ? "" : `&pageToken=${pageToken}`;
      const page: ApiResponse<MessageList> = await apiGet<MessageList>(
        gmail(sim, `/messages?maxResults=20${query}`),
        grant.accessToken,
      );
      expect(page.status).toBe(200);
      expect(page.json.resultSizeEstimate).toBe(45);
      ids.push(...(page.json.messages ?? []).map((m) => m.id));
      pageToken = page.json.nextPageToken;
      pages += 1;
    } while (pageToken !== undefined);
    expect(pages).toBe(3);
    expect(new Set(ids).size).toBe(45);

    const url = gmail(
      sim,
      `/messages/${ids[0]}?format=metadata&metadataHeaders=From&metadataHeaders=to&metadataHeaders=Cc&metadataHeaders=Subject&metadataHeaders=Date`,
    );
    const message = await apiGet<Message>(url, grant.accessToken);
    expect(message.status).toBe(200);
    const names = message.json.payload?.headers.map((h) => h.name) ?? [];
    expect(names.every((n) => ["From", "To", "Cc", "Subject", "Date"].includes(n))).toBe(true);
    expect(names).toEqual(expect.arrayContaining(["From", "To", "Subject", "Date"]));
    expect(message.json.internalDate).toMatch(/^\d{13}$/);
    expect(Number(message.json.historyId)).toBeGreaterThan(0);
    expect(header(message.json, "Date")).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000$/);

    const times = await Promise.all(
      ids
        .slice(0, 5)
        .map(async (id) =>
          Number(
            (await apiGet<Message>(gmail(sim, `/messages/${id}?format=minimal`), grant.accessToken)).json
              .internalDate,
          ),
        ),
    );
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    const full = await apiGet<Message>(gmail(sim, `/messages/${ids[1]}`), grant.accessToken);
    expect(Buffer.from(String(full.json.payload?.body.data), "base64url").toString()).toContain(
      full.json.snippet.slice(0, 10),
    );
    expect((await apiGet(gmail(sim, "/messages/ffffffffffffffff"), grant.accessToken)).status).toBe(404);
  });

  it("shows the participants set through the control API, in the case given", async () => {
    const sim = await startSimulator({ dataItems: { min: 30, max: 30 } });
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gm-2" });
    const result = await sim.control.setParticipants({
      connectionKey: "gm-2",
      participants: ["Alice Example <Alice.Example@Example.COM>", "BOB@example.org"],
    });
    expect(result.participants).toEqual([
      { name: "Alice Example", email: "Alice.Example@Example.COM" },
      { name: null, email: "BOB@example.org" },
    ]);
    const list = await apiGet<MessageList>(gmail(sim, "/messages?maxResults=500"), grant.accessToken);
    const profile = await apiGet<Profile>(gmail(sim, "/profile"), grant.accessToken);
    const self = profile.json.emailAddress;
    for (const { id } of list.json.messages ?? []) {
      const m = await apiGet<Message>(gmail(sim, `/messages/${id}?format=metadata`), grant.accessToken);
      const people = ["From", "To", "Cc"]
        .flatMap((n) => (header(m.json, n) ?? "").split(", "))
        .filter((v) => v !== "");
      for (const person of people) {
        expect(
          person.includes(self) ||
            person === "Alice Example <Alice.Example@Example.COM>" ||
            person === "BOB@example.org",
          person,
        ).toBe(true);
      }
    }
    // Gmail's search matches addresses whatever their case.
    const fromAlice = await apiGet<MessageList>(
      gmail(sim, "/messages?q=from:alice.example@example.com"),
      grant.accessToken,
    );
    expect(fromAlice.json.resultSizeEstimate).toBeGreaterThan(0);
  });

  it("returns exactly the newly added messages from history since the profile's historyId", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gm-3" });
    const start = (await apiGet<Profile>(gmail(sim, "/profile"), grant.accessToken)).json.historyId;
    const empty = await apiGet<History>(gmail(sim, `/history?startHistoryId=${start}`), grant.accessToken);
    expect(empty.json).toEqual({ historyId: start });

    const added = await sim.control.addData("gmail", "messages", {
      connectionKey: "gm-3",
      count: 2,
      items: [{ from: "Carol New <Carol@NEW.example>", cc: ["dave@new.example"], subject: "Hello there" }],
    });
    const addedIds = (added.items as Message[]).map((m) => m.id);
    const first = await apiGet<History>(
      gmail(sim, `/history?startHistoryId=${start}&maxResults=2`),
      grant.accessToken,
    );
    expect(first.json.history).toHaveLength(2);
    expect(first.json.nextPageToken).toEqual(expect.any(String));
    const second = await apiGet<History>(
      gmail(sim, `/history?startHistoryId=${start}&maxResults=2&pageToken=${first.json.nextPageToken}`),
      grant.accessToken,
    );
    expect(second.json.nextPageToken).toBeUndefined();
    const records = [...(first.json.history ?? []), ...(second.json.history ?? [])];
    expect(records.map((r) => r.messagesAdded[0]?.message.id)).toEqual(addedIds);
    const latest = (await apiGet<Profile>(gmail(sim, "/profile"), grant.accessToken)).json.historyId;
    expect(second.json.historyId).toBe(latest);
    expect(Number(latest)).toBeGreaterThan(Number(start));

    const carol = await apiGet<Message>(
      gmail(sim, `/messages/${addedIds[0]}?format=metadata`),
      grant.accessToken,
    );
    expect(header(carol.json, "From")).toBe("Carol New <Carol@NEW.example>");
    expect(header(carol.json, "Cc")).toBe("dave@new.example");
    expect(header(carol.json, "Subject")).toBe("Hello there");
    expect(carol.json.labelIds).toContain("INBOX");
    expect(
      (await apiGet<History>(gmail(sim, `/history?startHistoryId=${latest}`), grant.accessToken)).json
        .history,
    ).toBeUndefined();
  });

  it("answers 404 to a history id older than the history Gmail keeps, until a full sync", async () => {
    const sim = await startSimulator();
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gm-4" });
    const start = (await apiGet<Profile>(gmail(sim, "/profile"), grant.accessToken)).json.historyId;
    expect(await sim.control.expireCursors({ connectionKey: "gm-4", resource: "gmail.history" })).toEqual([
      "gmail.messages",
    ]);
    const gone = await apiGet(gmail(sim, `/history?startHistoryId=${start}`), grant.accessToken);
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual({
      error: {
        code: 404,
        message: "Requested entity was not found.",
        errors: [{ message: "Requested entity was not found.", domain: "global", reason: "notFound" }],
        status: "NOT_FOUND",
      },
    });
    const fresh = (await apiGet<Profile>(gmail(sim, "/profile"), grant.accessToken)).json.historyId;
    expect((await apiGet(gmail(sim, `/history?startHistoryId=${fresh}`), grant.accessToken)).status).toBe(
      200,
    );
  });

  it("answers 401 for expired tokens and 403 for another user's mailbox", async () => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const sim = await startSimulator({ now: () => now });
    const grant = await sim.control.createGrant({ provider: "google", connectionKey: "gm-5", expiresIn: 30 });
    now += 31_000;
    const expired = await apiGet(gmail(sim, "/messages"), grant.accessToken);
    expect(expired.status).toBe(401);
    expect(expired.headers.get("www-authenticate")).toContain('error="invalid_token"');
    const fresh = await sim.control.createGrant({ provider: "google", connectionKey: "gm-5" });
    const other = await apiGet(
      `${sim.control.apiUrl("gmail")}/gmail/v1/users/someone@else.com/messages`,
      fresh.accessToken,
    );
    expect(other).toMatchObject({
      status: 403,
      json: { error: { message: "Delegation denied for someone@else.com" } },
    });
  });
});
