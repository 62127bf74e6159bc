import { describe, expect, it } from "vitest";
import { decideFire, type FireInput } from "./fire-decision.ts";

const at = (iso: string) => new Date(iso);
const MIN = 60_000;

function input(overrides: Partial<FireInput>): FireInput {
  return {
    latestSlot: at("2026-11-21T10:05:00Z"),
    expectedSlot: at("2026-11-21T10:05:00Z"),
    lastRunSlot: at("2026-11-21T10:00:00Z"),
    slotAfterLastRun: at("2026-11-21T10:05:00Z"),
    now: at("2026-11-21T10:05:00.004Z"),
    lateAfterMs: 30_000,
    ...overrides,
  };
}

describe("decideFire", () => {
  it("fires the slot the timer was waiting for, on time", () => {
    expect(decideFire(input({}))).toEqual({ fire: true, slot: at("2026-11-21T10:05:00Z"), catchUp: false });
  });

  it("does not fire a slot that already ran (another replica was first)", () => {
    expect(decideFire(input({ lastRunSlot: at("2026-11-21T10:05:00Z") }))).toMatchObject({
      fire: false,
      reason: "already_ran",
    });
  });

  it("fires nothing when the expression has no slot yet", () => {
    expect(decideFire(input({ latestSlot: null }))).toMatchObject({ fire: false, reason: "no_slot" });
  });

  it("after downtime fires only the latest missed slot, once, as catch-up", () => {
    const decision = decideFire(
      input({
        expectedSlot: null,
        latestSlot: at("2026-11-21T12:55:00Z"),
        lastRunSlot: at("2026-11-21T10:00:00Z"),
        slotAfterLastRun: at("2026-11-21T10:05:00Z"),
        now: at("2026-11-21T12:57:30Z"),
      }),
    );
    expect(decision).toEqual({ fire: true, slot: at("2026-11-21T12:55:00Z"), catchUp: true });
  });

  it("marks a current slot as catch-up when slots before it were skipped", () => {
    // Restarted 1 s after a slot, the previous two slots lost: on time, but standing in for them.
    const decision = decideFire(
      input({
        expectedSlot: null,
        latestSlot: at("2026-11-21T10:15:00Z"),
        slotAfterLastRun: at("2026-11-21T10:05:00Z"),
        now: at("2026-11-21T10:15:01Z"),
      }),
    );
    expect(decision).toEqual({ fire: true, slot: at("2026-11-21T10:15:00Z"), catchUp: true });
  });

  it("treats a restart right after a slot that nobody fired yet as on time", () => {
    const decision = decideFire(input({ expectedSlot: null, now: at("2026-11-21T10:05:10Z") }));
    expect(decision).toEqual({ fire: true, slot: at("2026-11-21T10:05:00Z"), catchUp: false });
  });

  it("marks a tick late when the timer fired long after its slot (a stalled process)", () => {
    expect(decideFire(input({ now: at("2026-11-21T10:06:00Z") }))).toMatchObject({
      fire: true,
      catchUp: true,
    });
    // Woke after several slots passed: the latest one fires, once, as catch-up.
    expect(
      decideFire(input({ latestSlot: at("2026-11-21T10:20:00Z"), now: at("2026-11-21T10:20:00.500Z") })),
    ).toEqual({ fire: true, slot: at("2026-11-21T10:20:00Z"), catchUp: true });
  });

  it("does not catch up a schedule that never ran on its first start", () => {
    const first = input({ expectedSlot: null, lastRunSlot: null, slotAfterLastRun: null });
    expect(decideFire({ ...first, now: at("2026-11-23T10:00:00Z") })).toMatchObject({
      fire: false,
      reason: "no_history",
    });
    // ...but a slot that is current is simply fired.
    expect(decideFire({ ...first, now: at("2026-11-21T10:05:01Z") })).toEqual({
      fire: true,
      slot: at("2026-11-21T10:05:00Z"),
      catchUp: false,
    });
  });

  it("bounds the look-back with maxCatchUpAgeMs (0 turns catch-up off)", () => {
    // A weekly digest due Monday 08:00, the scheduler back on Wednesday.
    const digest = input({
      expectedSlot: null,
      latestSlot: at("2026-11-23T08:00:00Z"),
      lastRunSlot: at("2026-11-16T08:00:00Z"),
      slotAfterLastRun: at("2026-11-23T08:00:00Z"),
      now: at("2026-11-25T09:00:00Z"),
    });
    expect(decideFire(digest)).toMatchObject({ fire: true, catchUp: true });
    expect(decideFire({ ...digest, maxCatchUpAgeMs: 6 * 60 * MIN })).toMatchObject({
      fire: false,
      reason: "too_old",
    });
    expect(decideFire({ ...digest, maxCatchUpAgeMs: 0 })).toMatchObject({ fire: false, reason: "too_old" });
    // The bound is about late slots only: an on-time slot fires whatever it is.
    expect(decideFire(input({ maxCatchUpAgeMs: 0 }))).toMatchObject({ fire: true, catchUp: false });
  });
});
