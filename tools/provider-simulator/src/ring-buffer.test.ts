import { describe, expect, it } from "vitest";
import { RingBuffer } from "./ring-buffer.ts";

describe("RingBuffer", () => {
  it("keeps the newest entries, oldest first", () => {
    const ring = new RingBuffer<number>(3);
    for (let i = 1; i <= 7; i += 1) ring.push(i);
    expect([...ring]).toEqual([5, 6, 7]);
    expect(ring.size).toBe(3);
    ring.clear();
    expect([...ring]).toEqual([]);
    ring.push(8);
    expect([...ring]).toEqual([8]);
  });

  it("rejects a non-positive capacity", () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
  });
});
