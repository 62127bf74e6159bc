import { describe, expect, it } from "vitest";
import { BatchQueue } from "./batch-queue.ts";

function recordingQueue(options: { maxBatch: number; lingerMs?: number; maxConcurrent?: number }) {
  const batches: number[][] = [];
  let concurrent = 0;
  let maxSeen = 0;
  const queue = new BatchQueue<number, number>({
    lingerMs: options.lingerMs ?? 5,
    maxConcurrent: options.maxConcurrent ?? 1,
    maxBatch: options.maxBatch,
    run: async (items) => {
      batches.push(items);
      concurrent++;
      maxSeen = Math.max(maxSeen, concurrent);
      await new Promise((resolve) => setTimeout(resolve, 5));
      concurrent--;
      return items.map((i) => i * 10);
    },
  });
  return { queue, batches, maxConcurrentSeen: () => maxSeen };
}

describe("BatchQueue", () => {
  it("answers each caller with its own item's result, in batches of at most maxBatch", async () => {
    const { queue, batches } = recordingQueue({ maxBatch: 4 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => queue.submit(i)));
    expect(results).toEqual(Array.from({ length: 10 }, (_, i) => i * 10));
    expect(batches.every((b) => b.length <= 4)).toBe(true);
    expect(batches.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(batches.length).toBeLessThan(10);
  });

  it("runs a lone item after lingerMs", async () => {
    const { queue, batches } = recordingQueue({ maxBatch: 100, lingerMs: 20 });
    const started = Date.now();
    expect(await queue.submit(7)).toBe(70);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
    expect(batches).toEqual([[7]]);
  });

  it("never runs more than maxConcurrent batches at once", async () => {
    const { queue, maxConcurrentSeen } = recordingQueue({ maxBatch: 2, maxConcurrent: 2 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => queue.submit(i)));
    expect(maxConcurrentSeen()).toBe(2);
  });

  it("rejects every item of a failed batch and goes on with the next", async () => {
    let calls = 0;
    const queue = new BatchQueue<number, number>({
      maxBatch: 2,
      lingerMs: 1,
      maxConcurrent: 1,
      run: async (items) => {
        calls++;
        if (calls === 1) throw new Error("database gone");
        return items;
      },
    });
    const first = [queue.submit(1), queue.submit(2)];
    await expect(first[0]).rejects.toThrow("database gone");
    await expect(first[1]).rejects.toThrow("database gone");
    expect(await queue.submit(3)).toBe(3);
  });

  it("rejects a batch whose run returns the wrong number of results", async () => {
    const queue = new BatchQueue<number, number>({
      maxBatch: 5,
      lingerMs: 1,
      maxConcurrent: 1,
      run: async () => [1],
    });
    await expect(Promise.all([queue.submit(1), queue.submit(2)])).rejects.toThrow("1 results for 2 items");
  });

  it("drain waits for everything submitted", async () => {
    const { queue } = recordingQueue({ maxBatch: 3 });
    const settled: number[] = [];
    for (let i = 0; i < 7; i++) void queue.submit(i).then((r) => settled.push(r));
    await queue.drain();
    await Promise.resolve();
    expect(settled).toHaveLength(7);
    expect(queue.pending).toBe(0);
  });

  it("drain stops waiting at its deadline and says what is left", async () => {
    let release: () => void = () => {};
    const queue = new BatchQueue<number, number>({
      maxBatch: 1,
      lingerMs: 1,
      maxConcurrent: 1,
      run: (items) =>
        new Promise((resolve) => {
          release = () => resolve(items);
        }),
    });
    const answer = queue.submit(1);
    expect(await queue.drain(Date.now() + 30)).toBe(false);
    release();
    expect(await answer).toBe(1);
    expect(await queue.drain(Date.now() + 1_000)).toBe(true);
  });
});
