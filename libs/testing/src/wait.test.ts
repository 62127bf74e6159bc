import { describe, expect, it } from "vitest";
import { waitFor } from "./wait.ts";

describe("waitFor", () => {
  it("resolves to the first value that is neither undefined nor false", async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls++;
        if (calls === 1) return undefined;
        if (calls === 2) return false;
        return { calls };
      },
      "the third call",
      { intervalMs: 1 },
    );
    expect(value).toEqual({ calls: 3 });
  });

  it("awaits an async probe, and counts 0 and null as values", async () => {
    expect(await waitFor(async () => 0, "zero")).toBe(0);
    expect(await waitFor(async () => null, "null")).toBeNull();
  });

  it("waits for a boolean condition to hold", async () => {
    let ready = false;
    setTimeout(() => {
      ready = true;
    }, 30);
    await expect(waitFor(() => ready, "ready", { intervalMs: 5 })).resolves.toBe(true);
  });

  it("times out naming what it waited for", async () => {
    const started = Date.now();
    await expect(waitFor(() => false, "the impossible", { timeoutMs: 100, intervalMs: 10 })).rejects.toThrow(
      "timed out after 100 ms waiting for the impossible",
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it("does not swallow a probe's own error", async () => {
    await expect(
      waitFor(() => {
        throw new Error("probe broke");
      }, "anything"),
    ).rejects.toThrow("probe broke");
  });
});
