/**
 * Group commit: callers submit one item each and wait for its result, while the items are
 * handled `maxBatch` at a time by `run`. Work whose cost is mostly per statement or per
 * transaction (a commit, a round trip) then costs that once per batch instead of once per item.
 *
 * The first item of a batch waits at most `lingerMs` for company; a full batch goes at once. At
 * most `maxConcurrent` batches run at the same time, so a burst queues here rather than as open
 * transactions. When `run` throws, every item of its batch is rejected with that error (the
 * caller retries, or a bus handler lets the message be redelivered).
 */
export type BatchQueueOptions<I, O> = {
  /** Handles one batch; returns one result per item, in the items' order. */
  run: (items: I[]) => Promise<O[]>;
  maxBatch: number;
  lingerMs: number;
  maxConcurrent: number;
};

type Waiting<I, O> = { item: I; resolve: (value: O) => void; reject: (error: unknown) => void };

export class BatchQueue<I, O> {
  private readonly options: BatchQueueOptions<I, O>;
  private queue: Waiting<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  private readonly idle: Array<() => void> = [];

  constructor(options: BatchQueueOptions<I, O>) {
    if (options.maxBatch < 1 || options.maxConcurrent < 1) {
      throw new Error("BatchQueue: maxBatch and maxConcurrent must be at least 1");
    }
    this.options = options;
  }

  /** Items waiting or in a running batch. */
  get pending(): number {
    return this.queue.length + this.running * this.options.maxBatch;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Resolves once everything submitted so far has been handled (true), or at `deadline` (epoch
   * ms) with what is left still queued or running (false).
   */
  async drain(deadline = Number.POSITIVE_INFINITY): Promise<boolean> {
    while (this.queue.length > 0 || this.running > 0) {
      if (this.queue.length > 0 && this.running < this.options.maxConcurrent) this.startBatch();
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(left) ? setTimeout(resolve, left) : undefined;
        this.idle.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  private schedule(): void {
    if (this.queue.length >= this.options.maxBatch && this.running < this.options.maxConcurrent) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.startBatch();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (this.queue.length === 0) return;
      if (this.running < this.options.maxConcurrent) this.startBatch();
      else this.schedule();
    }, this.options.lingerMs);
  }

  private startBatch(): void {
    const batch = this.queue.splice(0, this.options.maxBatch);
    if (batch.length === 0) return;
    this.running += 1;
    void this.runBatch(batch).finally(() => {
      this.running -= 1;
      for (const wake of this.idle.splice(0)) wake();
      if (this.queue.length > 0) this.schedule();
    });
  }

  private async runBatch(batch: Waiting<I, O>[]): Promise<void> {
    try {
      const results = await this.options.run(batch.map((w) => w.item));
      if (results.length !== batch.length) {
        throw new Error(`BatchQueue: run returned ${results.length} results for ${batch.length} items`);
      }
      batch.forEach((w, i) => {
        w.resolve(results[i] as O);
      });
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}
