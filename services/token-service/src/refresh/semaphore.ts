/**
 * Counting semaphore whose free capacity can be read and awaited. p-limit queues functions, which
 * is the wrong shape here: a lane must know how many slots are free *before* it claims rows, so it
 * never holds a claim (and its lease) for a connection it cannot start refreshing right away.
 */
export class Semaphore {
  readonly capacity: number;
  private used = 0;
  private waiters: Array<{ min: number; resolve: () => void }> = [];

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError("capacity must be a positive integer");
    this.capacity = capacity;
  }

  get free(): number {
    return this.capacity - this.used;
  }

  get inUse(): number {
    return this.used;
  }

  /** Takes a slot if one is free. */
  tryAcquire(): boolean {
    if (this.used >= this.capacity) return false;
    this.used += 1;
    return true;
  }

  /** Waits for a free slot and takes it. */
  async acquire(signal?: AbortSignal): Promise<void> {
    while (!this.tryAcquire()) await this.whenFree(1, signal);
  }

  release(): void {
    if (this.used === 0) throw new Error("release without acquire");
    this.used -= 1;
    const ready = this.waiters.filter((w) => this.free >= w.min);
    if (ready.length > 0) {
      this.waiters = this.waiters.filter((w) => this.free < w.min);
      for (const w of ready) w.resolve();
    }
  }

  /** Resolves once at least `min` slots are free (at once if they are); rejects when `signal` aborts. */
  whenFree(min: number, signal?: AbortSignal): Promise<void> {
    const need = Math.min(Math.max(1, min), this.capacity);
    if (this.free >= need) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        min: need,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }
}
