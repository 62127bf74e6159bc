import { describe, expect, it } from "vitest";
import { defaultRetryPolicy, retryDelayMs } from "./retry-policy.ts";

describe("retryDelayMs", () => {
  it("grows exponentially, stays within [step/2, step] and never exceeds the cap", () => {
    const policy = { ...defaultRetryPolicy, initialDelayMs: 1_000, maxDelayMs: 10_000, factor: 2 };
    expect(retryDelayMs(policy, 1, () => 0)).toBe(500);
    expect(retryDelayMs(policy, 1, () => 1)).toBe(1_000);
    expect(retryDelayMs(policy, 2, () => 1)).toBe(2_000);
    expect(retryDelayMs(policy, 3, () => 0.5)).toBe(3_000);
    expect(retryDelayMs(policy, 20, () => 1)).toBe(10_000);
    expect(retryDelayMs(policy, 20, () => 0)).toBe(5_000);
  });
});
