import { describe, expect, it } from "vitest";
import type { HealthChangedData, TokenFailedData } from "./content.ts";
import { type Episode, noEpisode } from "./episode.ts";
import { type NotificationKind, priorityOf } from "./notifications.ts";
import { type Decision, decide, type NotifierEvent, type NotifySettings, subjectOf } from "./rules.ts";

const T0 = Date.parse("2026-11-21T10:00:00Z");
const MIN = 60_000;
const HOUR = 60 * MIN;

const connectionId = "0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a04";
const userId = "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b03";
const contactId = "0193a2d4-3c91-7b0e-8f55-6a7b8c9d0e01";

const settings: NotifySettings = {
  warningAfter: 2,
  disconnectedAfter: 3,
  rateLimitedAfter: 5,
  cooldownMs: 6 * HOUR,
  reconnectUrl: "https://app.syncwell.test/connections/{connectionId}/reconnect?via={provider}",
  healthEmail: false,
};

/** A failed refresh: `transient` and `other` are the transient and non-transient failures in a row. */
function failed(
  classification: TokenFailedData["classification"],
  counts: { transient?: number; other?: number },
  change: Partial<TokenFailedData> = {},
): NotifierEvent {
  const transient = counts.transient ?? 0;
  const other = counts.other ?? 0;
  return {
    type: "token.failed",
    data: {
      connectionId,
      userId,
      provider: "google",
      classification,
      errorCode: classification === "transient" ? "http_503" : "invalid_scope",
      errorDescription: "refresh_token=1//0secret-looking-text",
      consecutiveFailures: transient + other,
      consecutiveTransientFailures: transient,
      previousStatus: "connected",
      status: "connected",
      retryAt: "2026-11-21T10:07:41.000Z",
      ...change,
    },
  };
}

const transientFailure = (n: number, change: Partial<TokenFailedData> = {}) =>
  failed("transient", { transient: n }, change);
const grantGone = (errorCode = "invalid_grant"): NotifierEvent =>
  failed("permanent", { other: 1 }, { errorCode, status: "needs_reauth", retryAt: null });

function refreshed(recovered: boolean): NotifierEvent {
  return {
    type: "token.refreshed",
    data: {
      connectionId,
      userId,
      provider: "google",
      expiresAt: "2026-11-21T11:05:01.000Z",
      refreshTokenRotated: false,
      recovered,
      previousStatus: recovered ? "warning" : "connected",
    },
  };
}

function health(
  subjectKind: HealthChangedData["subjectKind"],
  status: string,
  previousStatus: string | null = "healthy",
): NotifierEvent {
  return {
    type: "health.changed",
    data: {
      subjectKind,
      subjectId: subjectKind === "connection" ? connectionId : contactId,
      userId,
      previousStatus,
      status,
      score: 20,
      previousScore: null,
      components: { recency: 0.1 },
      reason: "No reply to the last 4 messages in 38 days",
    } as HealthChangedData,
  };
}

/** Applies events in order, `step` apart, storing each decision's episode as the caller would. */
function run(events: NotifierEvent[], options: { from?: Episode; at?: number; step?: number } = {}) {
  let episode = options.from ?? noEpisode;
  const decisions: Decision[] = [];
  events.forEach((event, index) => {
    const decision = decide(event, episode, settings, (options.at ?? T0) + index * (options.step ?? MIN));
    decisions.push(decision);
    episode = decision.episode;
  });
  return { decisions, episode };
}

const created = (decisions: Decision[]) => decisions.flatMap((d) => d.create.map((n) => n.kind));
const last = (decisions: Decision[]) => decisions[decisions.length - 1] as Decision;

describe("token.failed: one failed refresh, on a connection without an episode", () => {
  it.each<[string, NotifierEvent, NotificationKind | null]>([
    ["1st transient failure", transientFailure(1), null],
    ["2nd transient failure", transientFailure(2, { status: "warning" }), "connection_warning"],
    [
      "3rd transient failure (never disconnects)",
      transientFailure(3, { status: "warning" }),
      "connection_warning",
    ],
    ["4th transient failure", transientFailure(4, { status: "warning" }), "connection_warning"],
    ["5th transient failure", transientFailure(5, { status: "rate_limited" }), "connection_rate_limited"],
    ["1st rejected refresh (permanent, still retried)", failed("permanent", { other: 1 }), null],
    ["2nd rejected refresh", failed("permanent", { other: 2 }, { status: "warning" }), "connection_warning"],
    [
      "3rd rejected refresh",
      failed("permanent", { other: 3 }, { status: "needs_reauth" }),
      "connection_disconnected",
    ],
    [
      "3rd rejected refresh, token service not yet giving up",
      failed("permanent", { other: 3 }, { status: "warning" }),
      "connection_disconnected",
    ],
    ["invalid_grant on the 1st", grantGone("invalid_grant"), "connection_disconnected"],
    ["revoked grant on the 1st", grantGone("token_revoked"), "connection_disconnected"],
    ["lost rotation on the 1st", grantGone("rotation_lost"), "connection_disconnected"],
    [
      "1 rejected and 1 transient: 2 in a row",
      failed("transient", { transient: 1, other: 1 }),
      "connection_warning",
    ],
    [
      "2 rejected and 4 transient: neither limit",
      failed("transient", { transient: 4, other: 2 }, { status: "warning" }),
      "connection_warning",
    ],
    [
      "5th transient after a rejected one",
      failed("transient", { transient: 5, other: 1 }, { status: "rate_limited" }),
      "connection_rate_limited",
    ],
    [
      "a rejected refresh after 5 transient ones is not rate limiting",
      failed("permanent", { transient: 5, other: 1 }, { status: "warning" }),
      "connection_warning",
    ],
  ])("%s → %s", (_case, event, kind) => {
    const decision = decide(event, noEpisode, settings, T0);
    expect(decision.create.map((n) => n.kind)).toEqual(kind ? [kind] : []);
    expect(decision.resolve).toEqual([]);
    expect(decision.episode).toMatchObject({ number: 1, openedAt: T0, closedAt: null });
  });

  it.each([
    ["1st", failed("operator", {}, { errorCode: "invalid_client" })],
    ["with counters that would disconnect", failed("operator", { other: 9 }, { status: "needs_reauth" })],
  ])("operator failure (%s) never notifies and leaves the episode as it was", (_case, event) => {
    for (const episode of [noEpisode, run([transientFailure(2)]).episode]) {
      expect(decide(event, episode, settings, T0 + HOUR)).toEqual({
        create: [],
        resolve: [],
        episode,
        held: [],
      });
    }
  });

  it("warns in-app, normal priority, with the facts and no provider text", () => {
    const [notification] = decide(transientFailure(2), noEpisode, settings, T0).create;
    expect(notification).toEqual({
      kind: "connection_warning",
      userId,
      subject: { type: "connection", connectionId },
      dedupKey: `connection_warning:${connectionId}:1`,
      priority: "normal",
      channels: ["in_app"],
      title: "Trouble reaching your Google account",
      body: "Syncwell could not renew its access to your Google account 2 times in a row. It keeps trying; nothing to do yet.",
      actionUrl: null,
      facts: {
        provider: "google",
        connectionId,
        status: "connected",
        errorCode: "http_503",
        consecutiveFailures: 2,
        consecutiveTransientFailures: 2,
        retryAt: "2026-11-21T10:07:41.000Z",
      },
    });
    expect(JSON.stringify(notification)).not.toContain("secret");
  });

  it("tells a disconnection in-app and by email, critical, with the reconnect link", () => {
    const [notification] = decide(grantGone(), noEpisode, settings, T0).create;
    expect(notification).toMatchObject({
      kind: "connection_disconnected",
      dedupKey: `connection_disconnected:${connectionId}:1`,
      priority: "critical",
      channels: ["in_app", "email"],
      title: "Google is disconnected",
      actionUrl: `https://app.syncwell.test/connections/${connectionId}/reconnect?via=google`,
    });
    expect(JSON.stringify(notification)).not.toContain("secret");
  });

  it("tells rate limiting in-app only, low priority", () => {
    const [notification] = decide(transientFailure(5), noEpisode, settings, T0).create;
    expect(notification).toMatchObject({ priority: "low", channels: ["in_app"], actionUrl: null });
  });
});

describe("token.failed: the rungs come from the settings", () => {
  const later: NotifySettings = { ...settings, warningAfter: 3, disconnectedAfter: 5, rateLimitedAfter: 8 };
  it.each<[string, NotifierEvent, NotificationKind | null]>([
    ["2nd transient failure", transientFailure(2), null],
    ["3rd transient failure", transientFailure(3), "connection_warning"],
    ["7th transient failure", transientFailure(7), "connection_warning"],
    ["8th transient failure", transientFailure(8), "connection_rate_limited"],
    ["4th rejected refresh", failed("permanent", { other: 4 }), "connection_warning"],
    ["5th rejected refresh", failed("permanent", { other: 5 }), "connection_disconnected"],
    ["the token service giving up on the 1st", grantGone(), "connection_disconnected"],
  ])("%s → %s", (_case, event, kind) => {
    expect(decide(event, noEpisode, later, T0).create.map((n) => n.kind)).toEqual(kind ? [kind] : []);
  });
});

describe("texts", () => {
  it.each<[string, NotifierEvent[], string]>([
    ["rate limited", [transientFailure(5)], "Google is slowing Syncwell down"],
    ["a deal critical", [health("deal", "critical")], "A deal needs attention"],
    ["a deal stalled", [health("deal", "stalled")], "A deal has stalled"],
    ["a contact ghost", [health("contact", "ghost")], "A contact has gone quiet"],
    ["a connection critical", [health("connection", "critical")], "A connection needs attention"],
  ])("%s: %s", (_case, events, title) => {
    expect(created(run(events).decisions)).toHaveLength(1);
    expect(last(run(events).decisions).create[0]?.title).toBe(title);
  });

  it("names an unknown provider by its key", () => {
    const [notification] = decide(
      transientFailure(2, { provider: "newcomer" }),
      noEpisode,
      settings,
      T0,
    ).create;
    expect(notification?.title).toBe("Trouble reaching your newcomer account");
  });
});

describe("subjectOf", () => {
  it("is the connection for refreshes and the scored subject for health", () => {
    expect(subjectOf(transientFailure(1))).toEqual({ type: "connection", connectionId });
    expect(subjectOf(refreshed(true))).toEqual({ type: "connection", connectionId });
    expect(subjectOf(health("contact", "ghost"))).toEqual({ type: "health", kind: "contact", id: contactId });
    expect(subjectOf(health("connection", "critical"))).toEqual({
      type: "health",
      kind: "connection",
      id: connectionId,
    });
  });
});

describe("token.failed: the ladder within one episode", () => {
  it("warns at the 2nd, tells rate limiting at the 5th (resolving the warning), nothing between", () => {
    const { decisions, episode } = run([1, 2, 3, 4, 5, 6].map((n) => transientFailure(n)));
    expect(decisions.map((d) => d.create.map((n) => n.kind))).toEqual([
      [],
      ["connection_warning"],
      [],
      [],
      ["connection_rate_limited"],
      [],
    ]);
    expect(decisions[4]?.resolve).toEqual([
      { kind: "connection_warning", dedupKey: `connection_warning:${connectionId}:1`, reason: "superseded" },
    ]);
    expect(episode).toMatchObject({ number: 1, level: 2, open: ["connection_rate_limited"] });
  });

  it("a disconnection after rate limiting replaces it; lesser rungs after it change nothing", () => {
    const { decisions, episode } = run([
      transientFailure(5),
      failed("permanent", { transient: 5, other: 1 }, { status: "needs_reauth", retryAt: null }),
      transientFailure(2),
      transientFailure(5),
    ]);
    expect(created(decisions)).toEqual(["connection_rate_limited", "connection_disconnected"]);
    expect(decisions[1]?.resolve.map((r) => [r.kind, r.reason])).toEqual([
      ["connection_rate_limited", "superseded"],
    ]);
    expect(decisions.slice(2).every((d) => d.create.length === 0 && d.resolve.length === 0)).toBe(true);
    expect(episode).toMatchObject({ number: 1, level: 3, open: ["connection_disconnected"] });
  });

  it("failures arriving out of order tell the gravest once", () => {
    const { decisions } = run([failed("permanent", { other: 3 }), failed("permanent", { other: 2 })]);
    expect(created(decisions)).toEqual(["connection_disconnected"]);
  });
});

describe("token.refreshed", () => {
  it("a recovery closes the episode, resolves what it told and says reconnected (in-app, low)", () => {
    const { decisions, episode } = run([transientFailure(1), transientFailure(2), refreshed(true)]);
    const recovery = last(decisions);
    expect(recovery.resolve).toEqual([
      { kind: "connection_warning", dedupKey: `connection_warning:${connectionId}:1`, reason: "recovered" },
    ]);
    expect(recovery.create).toEqual([
      expect.objectContaining({
        kind: "connection_reconnected",
        dedupKey: `connection_reconnected:${connectionId}:1`,
        priority: "low",
        channels: ["in_app"],
        title: "Google is connected again",
      }),
    ]);
    expect(episode).toEqual({
      number: 1,
      openedAt: T0,
      closedAt: T0 + 2 * MIN,
      level: 1,
      open: [],
      lastNotifiedAt: { connection_warning: T0 + MIN, connection_reconnected: T0 + 2 * MIN },
    });
  });

  it("a recovery after a disconnection resolves it", () => {
    const { decisions } = run([grantGone(), refreshed(true)]);
    expect(last(decisions).resolve.map((r) => r.kind)).toEqual(["connection_disconnected"]);
    expect(created(decisions)).toEqual(["connection_disconnected", "connection_reconnected"]);
  });

  it("a recovery from an episode that told nothing closes it quietly", () => {
    const { decisions, episode } = run([transientFailure(1), refreshed(true)]);
    expect(last(decisions)).toMatchObject({ create: [], resolve: [], held: [] });
    expect(episode).toMatchObject({ number: 1, closedAt: T0 + MIN });
  });

  it.each<[string, Episode, boolean]>([
    ["no episode ever", noEpisode, true],
    ["the episode already closed", run([transientFailure(2), refreshed(true)]).episode, true],
    ["not marked as a recovery", run([transientFailure(2)]).episode, false],
  ])("does nothing with %s", (_case, episode, recovered) => {
    expect(decide(refreshed(recovered), episode, settings, T0 + HOUR)).toEqual({
      create: [],
      resolve: [],
      episode,
      held: [],
    });
  });

  it("a recovery older than the episode's opening is stale", () => {
    const { episode } = run([transientFailure(2)], { at: T0 + HOUR });
    expect(decide(refreshed(true), episode, settings, T0).episode).toBe(episode);
  });

  it("a failure older than the recovery that closed the episode is stale", () => {
    const { episode } = run([transientFailure(2), refreshed(true)]);
    const late = decide(failed("permanent", { other: 3 }), episode, settings, T0 + 30_000);
    expect(late).toEqual({ create: [], resolve: [], episode, held: [] });
  });
});

describe("cooldown: a flapping connection", () => {
  /** Fails twice and recovers, every 30 minutes: `cycles` times from T0. */
  function flap(cycles: number, from: Episode = noEpisode) {
    let episode = from;
    const decisions: Decision[] = [];
    for (let cycle = 0; cycle < cycles; cycle++) {
      const start = T0 + cycle * 30 * MIN;
      const events = [transientFailure(1), transientFailure(2), refreshed(true)];
      const result = run(events, { from: episode, at: start, step: 5 * MIN });
      decisions.push(...result.decisions);
      episode = result.episode;
    }
    return { decisions, episode };
  }

  it("within the cooldown it is told once: later episodes hold the warning and say nothing on recovery", () => {
    const { decisions, episode } = flap(12);
    expect(created(decisions)).toEqual(["connection_warning", "connection_reconnected"]);
    expect(decisions.filter((d) => d.held.includes("connection_warning"))).toHaveLength(11);
    expect(decisions.flatMap((d) => d.resolve)).toHaveLength(1);
    expect(episode).toMatchObject({ number: 12, level: 0 });
  });

  it("once the cooldown has passed, it is told again, under the new episode's keys", () => {
    const { decisions } = flap(13);
    expect(created(decisions)).toEqual([
      "connection_warning",
      "connection_reconnected",
      "connection_warning",
      "connection_reconnected",
    ]);
    expect(decisions.flatMap((d) => d.create.map((n) => n.dedupKey)).slice(2)).toEqual([
      `connection_warning:${connectionId}:13`,
      `connection_reconnected:${connectionId}:13`,
    ]);
  });

  it("a warning held at the 2nd failure is told at a later one once the cooldown is over", () => {
    const { episode } = flap(1);
    const { decisions } = run([transientFailure(2), transientFailure(3)], {
      from: episode,
      at: T0 + HOUR,
      step: 6 * HOUR,
    });
    expect(decisions.map((d) => d.create.map((n) => n.kind))).toEqual([[], ["connection_warning"]]);
  });

  it("within the cooldown, a graver rung is still told (rate limiting once, a disconnection always)", () => {
    const { episode } = flap(1);
    const again = run([transientFailure(5), grantGone(), refreshed(true), grantGone(), refreshed(true)], {
      from: episode,
      at: T0 + HOUR,
    });
    expect(again.decisions.map((d) => d.create.map((n) => n.kind))).toEqual([
      ["connection_rate_limited"],
      ["connection_disconnected"],
      [],
      ["connection_disconnected"],
      [],
    ]);
    expect(again.decisions[2]?.held).toEqual(["connection_reconnected"]);
    expect(again.decisions[4]?.resolve.map((r) => r.dedupKey)).toEqual([
      `connection_disconnected:${connectionId}:3`,
    ]);
  });
});

describe("health.changed", () => {
  it.each<[HealthChangedData["subjectKind"], string, NotificationKind | null]>([
    ["contact", "healthy", null],
    ["contact", "at_risk", null],
    ["contact", "critical", "health_critical"],
    ["contact", "ghost", "health_ghost"],
    ["deal", "healthy", null],
    ["deal", "warning", null],
    ["deal", "critical", "health_critical"],
    ["deal", "stalled", "health_stalled"],
    ["connection", "healthy", null],
    ["connection", "warning", null],
    ["connection", "critical", "health_critical"],
  ])("%s turning %s → %s, in-app only by default", (kind, status, expected) => {
    const decision = decide(health(kind, status), noEpisode, settings, T0);
    expect(decision.create.map((n) => n.kind)).toEqual(expected ? [expected] : []);
    for (const notification of decision.create) {
      expect(notification.channels).toEqual(["in_app"]);
      expect(notification.priority).toBe(priorityOf[notification.kind]);
    }
    expect(decision.episode).toEqual(expected ? expect.objectContaining({ number: 1 }) : noEpisode);
  });

  it.each(["critical", "ghost", "healthy"])("tells nothing of a subject's first score (%s)", (status) => {
    const decision = decide(health("contact", status, null), noEpisode, settings, T0);
    expect(decision).toEqual({ create: [], resolve: [], episode: noEpisode, held: [] });
  });

  it("emails health notifications too when configured", () => {
    const decision = decide(health("contact", "ghost"), noEpisode, { ...settings, healthEmail: true }, T0);
    expect(decision.create[0]?.channels).toEqual(["in_app", "email"]);
  });

  it("keys a health notification by subject kind, subject and episode, with the scorer's reason", () => {
    const [notification] = decide(health("contact", "critical"), noEpisode, settings, T0).create;
    expect(notification).toMatchObject({
      dedupKey: `health_critical:contact:${contactId}:1`,
      subject: { type: "health", kind: "contact", id: contactId },
      priority: "high",
      title: "A relationship needs attention",
      body: "No reply to the last 4 messages in 38 days",
    });
  });

  it("escalates within an episode, stays quiet while it wavers, and closes on healthy", () => {
    const { decisions, episode } = run([
      health("contact", "critical"),
      health("contact", "ghost"),
      health("contact", "critical"),
      health("contact", "at_risk"),
      health("contact", "ghost"),
      health("contact", "healthy"),
      health("contact", "healthy"),
    ]);
    expect(decisions.map((d) => d.create.map((n) => n.kind))).toEqual([
      ["health_critical"],
      ["health_ghost"],
      [],
      [],
      [],
      [],
      [],
    ]);
    expect(decisions[1]?.resolve.map((r) => [r.kind, r.reason])).toEqual([["health_critical", "superseded"]]);
    expect(decisions[5]?.resolve).toEqual([
      { kind: "health_ghost", dedupKey: `health_ghost:contact:${contactId}:1`, reason: "recovered" },
    ]);
    expect(decisions[6]?.resolve).toEqual([]);
    expect(episode).toMatchObject({ number: 1, closedAt: T0 + 5 * MIN, open: [] });
  });

  it("a subject that turns critical again within the cooldown is not told again", () => {
    const hours = (n: number) => n * HOUR;
    const events = [health("deal", "critical"), health("deal", "healthy"), health("deal", "critical")];
    expect(created(run(events, { step: hours(1) }).decisions)).toEqual(["health_critical"]);
    expect(created(run(events, { step: hours(6) }).decisions)).toEqual([
      "health_critical",
      "health_critical",
    ]);
  });

  it("a connection's health and its refreshes are separate episodes", () => {
    const { episode } = run([grantGone()]);
    const decision = decide(health("connection", "critical"), noEpisode, settings, T0 + MIN);
    expect(decision.create.map((n) => n.dedupKey)).toEqual([`health_critical:connection:${connectionId}:1`]);
    expect(episode.open).toEqual(["connection_disconnected"]);
  });
});

describe("the same event twice", () => {
  it.each<[string, NotifierEvent[]]>([
    ["a warning", [transientFailure(2)]],
    ["a disconnection", [grantGone()]],
    ["rate limiting", [transientFailure(5)]],
    ["a recovery", [transientFailure(2), refreshed(true)]],
    ["a health status", [health("deal", "stalled")]],
    ["a health recovery", [health("deal", "stalled"), health("deal", "healthy")]],
  ])("%s: decides the same from the same episode, and nothing new from the one it left", (_case, events) => {
    const before = run(events.slice(0, -1));
    const event = events[events.length - 1] as NotifierEvent;
    const at = T0 + 10 * MIN;
    const first = decide(event, before.episode, settings, at);
    expect(decide(event, before.episode, settings, at)).toEqual(first);
    expect(first.create.length + first.resolve.length).toBeGreaterThan(0);
    const again = decide(event, first.episode, settings, at);
    expect(again).toEqual({ create: [], resolve: [], episode: first.episode, held: [] });
  });
});

describe("priorities", () => {
  it("one per kind, from low to critical", () => {
    expect(priorityOf).toEqual({
      connection_warning: "normal",
      connection_rate_limited: "low",
      connection_disconnected: "critical",
      connection_reconnected: "low",
      health_critical: "high",
      health_ghost: "normal",
      health_stalled: "normal",
    });
  });
});
