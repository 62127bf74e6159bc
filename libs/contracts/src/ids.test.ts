import { describe, expect, it } from "vitest";
import { uuidv7 } from "./ids.ts";

describe("uuidv7", () => {
  it("makes distinct, time-ordered version 7 ids, past the random pool's refill", () => {
    const ids = Array.from({ length: 5_000 }, () => uuidv7());
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    const millis = Number.parseInt(ids[0]?.replaceAll("-", "").slice(0, 12) ?? "", 16);
    expect(Math.abs(millis - Date.now())).toBeLessThan(60_000);
  });
});
