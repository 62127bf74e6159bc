import { describe, expect, it } from "vitest";
import { z } from "zod";
import { TICK_ID_NAMESPACE, tickEventId, tickKey, uuidv5 } from "./tick-id.ts";

describe("tick ids", () => {
  it("implements RFC 9562 UUIDv5 (the RFC's DNS example)", () => {
    expect(uuidv5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBe(
      "2ed6657d-e927-568b-95e1-2665a8aea6a2",
    );
  });

  it("derives the same UUID for the same schedule and slot, on any replica", () => {
    const slot = new Date("2026-11-21T10:05:00.000Z");
    expect(tickKey("token-refresh", slot)).toBe("token-refresh@2026-11-21T10:05:00.000Z");
    const id = tickEventId("token-refresh", new Date(slot.getTime()));
    expect(id).toBe(tickEventId("token-refresh", slot));
    expect(id).toBe(uuidv5("token-refresh@2026-11-21T10:05:00.000Z", TICK_ID_NAMESPACE));
    expect(z.uuid().safeParse(id).success).toBe(true);
    expect(id[14]).toBe("5");
  });

  it("differs between slots and schedules", () => {
    const slot = new Date("2026-11-21T10:05:00.000Z");
    const ids = new Set([
      tickEventId("token-refresh", slot),
      tickEventId("poll", slot),
      tickEventId("token-refresh", new Date(slot.getTime() + 1)),
      tickEventId("token-refresh", new Date(slot.getTime() + 300_000)),
    ]);
    expect(ids.size).toBe(4);
  });
});
