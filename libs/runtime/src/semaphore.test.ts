import { describe, expect, it } from "vitest";
import { Condition, Semaphore } from "./semaphore.ts";

describe("Semaphore", () => {
  it("takes in bulk up to what is free and counts what is in use", () => {
    const s = new Semaphore(3);
    expect(s.take(2)).toBe(2);
    expect(s.take(5)).toBe(1);
    expect(s.take(1)).toBe(0);
    expect([s.free, s.inUse]).toEqual([0, 3]);
    s.release(2);
    expect([s.free, s.inUse]).toEqual([2, 1]);
    expect(() => s.release(2)).toThrow(/release without take/);
    expect(() => new Semaphore(0)).toThrow(RangeError);
  });

  it("acquire waits for a release; whenFree waits for enough free slots", async () => {
    const s = new Semaphore(2);
    s.take(2);
    let acquired = false;
    const pending = s.acquire().then(() => {
      acquired = true;
    });
    const two = s.whenFree(2);
    await Promise.resolve();
    expect(acquired).toBe(false);
    s.release();
    await pending;
    expect([acquired, s.inUse]).toEqual([true, 2]);
    s.release(2);
    await two;
    expect(s.free).toBe(2);
  });

  it("rejects a wait with the signal's reason when it aborts", async () => {
    const s = new Semaphore(1);
    s.take(1);
    const controller = new AbortController();
    const waiting = s.acquire(controller.signal);
    controller.abort(new Error("stopping"));
    await expect(waiting).rejects.toThrow("stopping");
    await expect(s.whenFree(1, controller.signal)).rejects.toThrow("stopping");
    s.release();
    expect(s.free).toBe(1);
  });
});

describe("Condition", () => {
  it("wakes every waiter at the next notify, once", async () => {
    const condition = new Condition();
    const a = condition.wait();
    const b = condition.wait();
    expect(a).toBe(b);
    condition.notify();
    await a;
    expect(condition.wait()).not.toBe(a);
  });
});
