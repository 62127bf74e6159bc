import { describe, expect, it } from "vitest";
import { catalog } from "./catalog.ts";
import { createEvent, EventValidationError, subjectOf } from "./create-event.ts";
import { validateEvent } from "./validate.ts";

const refreshed = catalog["token.refreshed"].examples[0];
if (!refreshed) throw new Error("token.refreshed needs an example");
const ingested = catalog["data.ingested"].examples[0];
if (!ingested) throw new Error("data.ingested needs an example");

function errorOf(input: unknown): string {
  const result = validateEvent(input);
  if (result.ok) throw new Error("expected the event to be rejected");
  return result.error;
}

describe("validateEvent", () => {
  it("accepts an event as an object, JSON text or bytes", () => {
    for (const input of [refreshed, JSON.stringify(refreshed), Buffer.from(JSON.stringify(refreshed))]) {
      const result = validateEvent(input);
      expect(result.ok && result.event.type).toBe("token.refreshed");
    }
  });

  it("applies defaults (a tick without `manual` is not manual)", () => {
    const tick = catalog.tick.examples[0];
    if (!tick) throw new Error("tick needs an example");
    const { manual: _, ...data } = tick.data;
    const result = validateEvent({ ...tick, data });
    expect(result.ok && result.event.type === "tick" && result.event.data.manual).toBe(false);
  });

  it("rejects bytes that are not JSON", () => {
    expect(errorOf(Buffer.from("hello, not json"))).toMatch(/^payload is not JSON: /);
    expect(errorOf(new Uint8Array([0xff, 0xfe, 0x00]))).toBe(
      "payload is not UTF-8 text (expected a JSON event)",
    );
  });

  it("rejects a non-object payload at the envelope", () => {
    expect(errorOf("42")).toMatch(/^invalid envelope: \(root\): /);
  });

  it("names the path of a missing field", () => {
    const { connectionId: _, ...data } = refreshed.data;
    expect(errorOf({ ...refreshed, data })).toBe(
      "invalid token.refreshed v1: data.connectionId: Invalid input: expected string, received undefined",
    );
  });

  it("names a missing payload", () => {
    const { data: _, ...envelope } = refreshed;
    expect(errorOf(envelope)).toBe(
      "invalid envelope: data: Invalid input: expected the event payload, received undefined",
    );
  });

  it("names the path and expected type of a field of the wrong type", () => {
    const error = errorOf({
      ...ingested,
      data: { ...ingested.data, counts: { ...ingested.data.counts, added: "3" } },
    });
    expect(error).toBe(
      "invalid data.ingested v1: data.counts.added: Invalid input: expected number, received string",
    );
  });

  it("reports every problem at once", () => {
    const error = errorOf({ ...refreshed, id: "nope", data: { ...refreshed.data, provider: "Google" } });
    expect(error).toMatch(/^invalid envelope: id: Invalid UUID/);
    const dataError = errorOf({
      ...refreshed,
      data: { ...refreshed.data, provider: "Google", expiresAt: "soon" },
    });
    expect(dataError).toContain("data.provider: lowercase letters, digits and dashes");
    expect(dataError).toContain("data.expiresAt: ");
  });

  it("names an unknown type and lists the known ones", () => {
    const error = errorOf({ ...refreshed, type: "token.exploded" });
    expect(error).toMatch(
      /^unknown event type "token.exploded" \(known: tick, token.refreshed, token.failed, /,
    );
    expect(error).toContain("operator.alert");
  });

  it("rejects a version the catalog does not have", () => {
    expect(errorOf({ ...refreshed, version: 2 })).toBe(
      'unsupported version 2 of "token.refreshed" (supported: 1)',
    );
  });

  it("rejects unknown envelope fields", () => {
    expect(errorOf({ ...refreshed, traceparent: "00-abc" })).toBe(
      'invalid envelope: (root): Unrecognized key: "traceparent"',
    );
  });

  it("checks the health status against the scale of the subject kind", () => {
    const health = catalog["health.changed"].examples[0];
    if (!health) throw new Error("health.changed needs an example");
    expect(validateEvent({ ...health, data: { ...health.data, subjectKind: "deal" } }).ok).toBe(false);
    expect(
      validateEvent({
        ...health,
        data: { ...health.data, subjectKind: "deal", previousStatus: "warning", status: "stalled" },
      }).ok,
    ).toBe(true);
  });
});

describe("createEvent", () => {
  it("builds a valid envelope with a UUIDv7 id and the catalog's version", () => {
    const event = createEvent("token.refreshed", refreshed.data, {
      source: "token-service",
      occurredAt: new Date("2026-11-21T10:05:02.481Z"),
    });
    expect(event).toMatchObject({ type: "token.refreshed", version: 1, source: "token-service" });
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(event.occurredAt).toBe("2026-11-21T10:05:02.481Z");
    const roundTrip = validateEvent(JSON.stringify(event));
    expect(roundTrip.ok && roundTrip.event).toEqual(event);
  });

  it("keeps a given id and fills defaults", () => {
    const event = createEvent(
      "tick",
      {
        schedule: "health-sweep",
        slot: "2026-11-21T11:00:00.000Z",
        catchUp: true,
        jobRunId: "01a1fdc3-5ee0-7000-8000-0000000000c3",
      },
      {
        source: "scheduler",
        id: "01a1fdc3-5ee0-7000-8000-000000000003",
        occurredAt: "2026-11-21T11:00:00.000Z",
      },
    );
    expect(event.id).toBe("01a1fdc3-5ee0-7000-8000-000000000003");
    expect(event.data.manual).toBe(false);
    expect(subjectOf(event)).toBe("tick.health-sweep");
  });

  it("throws EventValidationError naming the bad field", () => {
    const build = () =>
      createEvent(
        "token.failed",
        { ...catalog["token.failed"].examples[0]?.data, classification: "fatal" } as never,
        {
          source: "token-service",
        },
      );
    expect(build).toThrow(EventValidationError);
    expect(build).toThrow(
      /^invalid token.failed: data.classification: Invalid option: expected one of "permanent"\|"transient"\|"operator"$/,
    );
  });

  it("rejects an empty source", () => {
    expect(() => createEvent("token.refreshed", refreshed.data, { source: "" })).toThrow(/source: /);
  });
});

describe("subjectOf", () => {
  it("puts the schedule in tick subjects and uses the fixed subject otherwise", () => {
    const tick = createEvent(
      "tick",
      {
        schedule: "weekly-digest",
        slot: "2026-11-23T08:00:00.000Z",
        catchUp: false,
        jobRunId: "01a1fdc3-5ee0-7000-8000-0000000000c4",
      },
      { source: "scheduler" },
    );
    expect(subjectOf(tick)).toBe("tick.weekly-digest");
    expect(subjectOf(createEvent("token.refreshed", refreshed.data, { source: "token-service" }))).toBe(
      "token.refreshed",
    );
  });
});
