import { describe, expect, it } from "vitest";
import { deadLetterSubject, streamForSubject, streamList, streams, subjectMatches } from "./streams.ts";

describe("subjectMatches", () => {
  it.each([
    ["tick.*", "tick.token-refresh", true],
    ["tick.*", "tick", false],
    ["tick.*", "tick.a.b", false],
    ["tick.>", "tick.a.b", true],
    ["tick.>", "tick", false],
    ["token.refreshed", "token.refreshed", true],
    ["token.refreshed", "token.failed", false],
    ["*.refreshed", "token.refreshed", true],
    [">", "anything.at.all", true],
  ])("%s ~ %s → %s", (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });

  it("treats wildcards in the subject as the set of subjects they stand for", () => {
    expect(subjectMatches("tick.>", "tick.*")).toBe(true);
    expect(subjectMatches("tick.>", "tick.>")).toBe(true);
    expect(subjectMatches("tick.*", "tick.*")).toBe(true);
    expect(subjectMatches("tick.*", "tick.>")).toBe(false);
    expect(subjectMatches("tick.daily", "tick.*")).toBe(false);
  });

  it("matches nothing for invalid subjects", () => {
    expect(subjectMatches("tick.>", "tick..a")).toBe(false);
    expect(subjectMatches("tick.>", "")).toBe(false);
    expect(subjectMatches("tick.>.a", "tick.b.a")).toBe(false);
  });
});

describe("streamForSubject", () => {
  it("finds the stream of a concrete or wildcard subject", () => {
    expect(streamForSubject("tick.token-refresh")?.name).toBe("TICKS");
    expect(streamForSubject("tick.*")?.name).toBe("TICKS");
    expect(streamForSubject("token.failed")?.name).toBe("TOKENS");
    expect(streamForSubject("operator.alert")?.name).toBe("OPERATOR");
    expect(streamForSubject(deadLetterSubject("poller-data-ingested"))?.name).toBe("DEADLETTER");
  });

  it("returns undefined when no stream captures the subject", () => {
    expect(streamForSubject("nobody.listens")).toBeUndefined();
    expect(streamForSubject("tick")).toBeUndefined();
  });
});

/** Whether some concrete subject matches both patterns. */
function overlaps(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === ">" || q === ">") return p !== undefined && q !== undefined;
    if (p === undefined || q === undefined) return false;
    if (p !== "*" && q !== "*" && p !== q) return false;
  }
  return true;
}

describe("streams", () => {
  it("have unique names and subjects that no other stream captures (NATS refuses overlaps)", () => {
    expect(new Set(streamList.map((s) => s.name)).size).toBe(streamList.length);
    const all = streamList.flatMap((s) => s.subjects.map((subject) => ({ stream: s.name, subject })));
    for (const a of all) {
      for (const b of all) {
        if (a !== b)
          expect(overlaps(a.subject, b.subject), `${a.subject} (${a.stream}) vs ${b.subject}`).toBe(false);
      }
    }
  });

  it("keep a duplicate window no longer than the retention", () => {
    for (const s of Object.values(streams)) expect(s.duplicateWindowMs).toBeLessThanOrEqual(s.maxAgeMs);
  });
});
