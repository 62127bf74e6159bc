import { describe, expect, it } from "vitest";
import { backoffDelayMs } from "./backoff.ts";

describe("backoffDelayMs", () => {
  const backoff = { initialDelayMs: 1_000, maxDelayMs: 10_000 };

  it("doubles the step per attempt, between half the step and the step", () => {
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(backoff, n, () => 0))).toEqual([500, 1_000, 2_000, 4_000]);
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(backoff, n, () => 1))).toEqual([
      1_000, 2_000, 4_000, 8_000,
    ]);
  });

  it("caps the step at maxDelayMs, however many attempts (no overflow)", () => {
    expect(backoffDelayMs(backoff, 5, () => 1)).toBe(10_000);
    expect(backoffDelayMs(backoff, 10_000, () => 1)).toBe(10_000);
    expect(backoffDelayMs(backoff, 10_000, () => 0)).toBe(5_000);
  });

  it("uses the given factor, and treats attempts below 1 as the first", () => {
    expect(backoffDelayMs({ ...backoff, factor: 3 }, 3, () => 1)).toBe(9_000);
    expect(backoffDelayMs(backoff, 0, () => 1)).toBe(1_000);
  });

  it("spreads a herd: random draws land anywhere in [step/2, step]", () => {
    const delays = Array.from({ length: 200 }, () => backoffDelayMs(backoff, 3));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(2_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(4_000);
    expect(new Set(delays).size).toBeGreaterThan(50);
  });
});
