import { describe, expect, it } from "vitest";
import { createEvent, EventValidationError, isBuiltEvent } from "./create-event.ts";

const data = {
  connectionId: "0190a8b4-0000-7000-8000-000000000001",
  userId: "0190a8b4-0000-7000-8000-000000000002",
  provider: "google",
  resource: "gmail.messages",
  counts: { added: 1, updated: 0, unchanged: 0, deleted: 0 },
  cursor: "7",
  communicationEventsCreated: 1,
  fullSync: false,
};

describe("createEvent", () => {
  it("builds a frozen envelope, its data frozen too, that it knows it built", () => {
    const event = createEvent("data.ingested", data, { source: "test" });
    expect(isBuiltEvent(event)).toBe(true);
    expect(Object.isFrozen(event)).toBe(true);
    expect(Object.isFrozen(event.data.counts)).toBe(true);
    expect(() => {
      (event.data.counts as { added: number }).added = -1;
    }).toThrow(TypeError);
  });

  it("does not take a copy or a look-alike for an envelope it built", () => {
    const event = createEvent("data.ingested", data, { source: "test" });
    expect(isBuiltEvent({ ...event })).toBe(false);
    expect(isBuiltEvent(JSON.parse(JSON.stringify(event)))).toBe(false);
  });

  it("refuses bad data naming the field", () => {
    expect(() =>
      createEvent("data.ingested", { ...data, cursor: 7 as unknown as string }, { source: "test" }),
    ).toThrow(EventValidationError);
  });
});
