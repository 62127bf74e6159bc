import { describe, expect, it } from "vitest";
import { WakeLoop } from "./wake-loop.ts";

function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe("WakeLoop", () => {
  it("runs one pass at a time, and one more for wake-ups during a pass, however many", async () => {
    let passes = 0;
    const first = gate();
    const loop = new WakeLoop({
      pass: async () => {
        passes++;
        if (passes === 1) await first.opened;
        return undefined;
      },
      stopped: () => false,
    });
    const woken = loop.wake();
    void loop.wake();
    void loop.wake();
    expect(passes).toBe(1);
    first.open();
    await woken;
    expect(passes).toBe(2);
    expect(loop.running).toBeUndefined();
  });

  it("goes again when a pass asks, and not once stopped", async () => {
    let passes = 0;
    let stopped = false;
    const loop = new WakeLoop({
      pass: async () => {
        passes++;
        if (passes === 3) stopped = true;
        return true;
      },
      stopped: () => stopped,
    });
    await loop.flush();
    expect(passes).toBe(3);
    await loop.wake();
    expect(passes).toBe(3);
  });

  it("runs the loop inside wrap", async () => {
    const wrapped: string[] = [];
    const loop = new WakeLoop({
      pass: async () => {
        wrapped.push("pass");
        return undefined;
      },
      stopped: () => false,
      wrap: async (run) => {
        wrapped.push("in");
        await run();
        wrapped.push("out");
      },
    });
    await loop.flush();
    expect(wrapped).toEqual(["in", "pass", "out"]);
  });
});
