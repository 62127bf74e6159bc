import { describe, expect, it } from "vitest";
import {
  dedupKey,
  providerName,
  reconnectUrl,
  reconnectUrlProblem,
  type Subject,
  subjectKey,
} from "./notifications.ts";

const connection: Subject = { type: "connection", connectionId: "c-1" };
const deal: Subject = { type: "health", kind: "deal", id: "d-1" };
const dealConnection: Subject = { type: "health", kind: "connection", id: "c-1" };

describe("subjects and dedup keys", () => {
  it("keeps a connection's refreshes and its health apart", () => {
    expect([subjectKey(connection), subjectKey(dealConnection), subjectKey(deal)]).toEqual([
      "connection:c-1",
      "health:connection:c-1",
      "health:deal:d-1",
    ]);
  });

  it("keys a notification by kind, subject and episode, as the contracts' examples do", () => {
    expect(dedupKey("connection_disconnected", connection, 1)).toBe("connection_disconnected:c-1:1");
    expect(dedupKey("health_critical", dealConnection, 2)).toBe("health_critical:connection:c-1:2");
    expect(dedupKey("health_stalled", deal, 7)).toBe("health_stalled:deal:d-1:7");
  });
});

describe("reconnect links", () => {
  it("fills in the connection and provider, URL-encoded", () => {
    expect(
      reconnectUrl("https://app.test/connections/{connectionId}/reconnect?p={provider}", {
        connectionId: "0193a0f1-55c2",
        provider: "github-app",
      }),
    ).toBe("https://app.test/connections/0193a0f1-55c2/reconnect?p=github-app");
    expect(reconnectUrl("https://app.test/r/{connectionId}", { connectionId: "a/b?c", provider: "x" })).toBe(
      "https://app.test/r/a%2Fb%3Fc",
    );
    expect(reconnectUrl("https://app.test/connections", { connectionId: "c", provider: "p" })).toBe(
      "https://app.test/connections",
    );
  });

  it.each([
    ["http://localhost:3000/connections/{connectionId}/reconnect", undefined],
    ["https://app.syncwell.io/c/{connectionId}?provider={provider}", undefined],
    ["https://app.syncwell.io/connections", undefined],
    ["https://app.syncwell.io/c/{id}", "has an unknown placeholder {id} (known: {connectionId}, {provider})"],
    ["https://app.syncwell.io/c/{connectionId", "has a stray brace or a space"],
    ["/connections/{connectionId}", "is not a valid URL"],
    ["javascript:alert(1)//{connectionId}", "has scheme javascript, not http or https"],
    ["ftp://files.test/{connectionId}", "has scheme ftp, not http or https"],
    ["https://user:pw@app.test/{connectionId}", "has credentials in it (a link in an email must not)"],
  ])("%s → %s", (template, problem) => {
    expect(reconnectUrlProblem(template)).toBe(problem);
  });
});

describe("provider names", () => {
  it("as users know them; an unknown provider by its key", () => {
    expect(["google", "github", "github-app", "linkedin", "newcomer"].map(providerName)).toEqual([
      "Google",
      "GitHub",
      "GitHub App",
      "LinkedIn",
      "newcomer",
    ]);
  });
});
