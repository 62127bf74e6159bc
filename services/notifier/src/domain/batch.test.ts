import { describe, expect, it } from "vitest";
import { decideBatch, episodeKey, eventTime, mayChange } from "./batch.ts";
import { noEpisode } from "./episode.ts";
import type { NotifierEvent, NotifySettings } from "./rules.ts";

const T0 = Date.parse("2026-11-21T10:00:00Z");
const MIN = 60_000;
const userId = "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b03";
const connectionId = "0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a04";
const key = episodeKey(userId, `connection:${connectionId}`);

const settings: NotifySettings = {
  warningAfter: 2,
  disconnectedAfter: 3,
  rateLimitedAfter: 5,
  cooldownMs: 6 * 60 * MIN,
  reconnectUrl: "https://app.syncwell.test/c/{connectionId}",
  healthEmail: false,
};

function failed(
  n: number,
  who = userId,
  classification: "permanent" | "operator" = "permanent",
): NotifierEvent {
  return {
    type: "token.failed",
    data: {
      connectionId,
      userId: who,
      provider: "google",
      classification,
      errorCode: "invalid_request",
      consecutiveFailures: n,
      consecutiveTransientFailures: 0,
      previousStatus: "warning",
      status: "warning",
      retryAt: null,
    },
  };
}

describe("a batch of events", () => {
  it("decides each on the episode the one before it left, in the order they happened", () => {
    // Arrived 3rd, 1st, 2nd: decided 1st, 2nd, 3rd, as one transaction per event would.
    const events = [3, 1, 2].map((n) => ({ event: failed(n), at: T0 + n * MIN }));
    const batch = decideBatch(events, new Map([[key, noEpisode]]), settings);
    expect(batch.create.map((c) => [c.draft.kind, c.episode, c.cause.at])).toEqual([
      ["connection_warning", 1, T0 + 2 * MIN],
      ["connection_disconnected", 1, T0 + 3 * MIN],
    ]);
    expect(batch.resolve.map((r) => [r.order.dedupKey, r.order.reason, r.at])).toEqual([
      [`connection_warning:${connectionId}:1`, "superseded", T0 + 3 * MIN],
    ]);
    expect([...batch.episodes.values()]).toMatchObject([
      { userId, subjectKey: `connection:${connectionId}`, episode: { number: 1, level: 3 } },
    ]);
  });

  it("leaves out events of users without an episode row, and subjects nothing changed", () => {
    const stranger = "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5bff";
    const batch = decideBatch(
      [
        { event: failed(1, stranger), at: T0 },
        { event: failed(1), at: T0 },
      ],
      new Map([[key, { ...noEpisode, number: 1, openedAt: T0 - MIN }]]),
      settings,
    );
    expect(batch.unknown.map((u) => u.event.data.userId)).toEqual([stranger]);
    expect(batch.create).toEqual([]);
    expect(batch.episodes.size).toBe(0);
  });

  it("keys subjects by user case-insensitively, as Postgres writes uuids", () => {
    expect(episodeKey(userId.toUpperCase(), "connection:x")).toBe(episodeKey(userId, "connection:x"));
  });

  it("passes over refreshes that are no recovery and the operator's failures", () => {
    const refreshed = (recovered: boolean): NotifierEvent => ({
      type: "token.refreshed",
      data: {
        connectionId,
        userId,
        provider: "google",
        expiresAt: null,
        refreshTokenRotated: false,
        recovered,
        previousStatus: "warning",
      },
    });
    const operator = failed(3, userId, "operator");
    expect([refreshed(false), refreshed(true), operator, failed(1)].map(mayChange)).toEqual([
      false,
      true,
      false,
      true,
    ]);
  });
});

describe("an event's time", () => {
  const arrived = Date.parse("2026-12-07T12:00:00.000Z");

  it.each([
    ["before it arrived: its own", "2026-12-07T11:59:59.000Z", Date.parse("2026-12-07T11:59:59.000Z")],
    ["as it arrived: its own", "2026-12-07T12:00:00.000Z", arrived],
    ["after it arrived: its arrival", "2026-12-07T12:00:00.001Z", arrived],
    ["far in the future: its arrival", "2100-01-01T00:00:00.000Z", arrived],
    ["not a date: its arrival", "soon", arrived],
  ])("%s", (_case, occurredAt, expected) => {
    expect(eventTime(occurredAt, arrived)).toBe(expected);
  });
});
