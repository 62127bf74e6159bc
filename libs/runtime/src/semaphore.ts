/**
 * Counting semaphore whose free capacity can be read, taken in bulk and awaited. p-limit queues
 * functions, which is the wrong shape for the services' claim loops: a lane must know how many
 * slots are free *before* it claims rows, so it never holds a claim (and its lease) it cannot start
 * working on right away.
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

  /** Takes up to `n` free slots at once, without waiting; returns how many it took. */
  take(n: number): number {
    const granted = Math.max(0, Math.min(n, this.free));
    this.used += granted;
    return granted;
  }

  /** Waits for a free slot and takes it; rejects with `signal.reason` when `signal` aborts first. */
  async acquire(signal?: AbortSignal): Promise<void> {
    while (this.take(1) === 0) await this.whenFree(1, signal);
  }

  /** Gives back `n` slots and wakes the waiters that now have what they wait for. */
  release(n = 1): void {
    if (n <= 0) return;
    if (this.used < n) throw new Error("release without take");
    this.used -= n;
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

/**
 * A condition to wait for, as with a condition variable's wait / notify-all: `wait()` resolves at
 * the next `notify()`, and a notify with nobody waiting is not remembered. Every waiter shares one
 * promise, so waiting in a loop adds nothing that outlives the next notification (unlike racing a
 * growing set of promises, or registering a waiter per iteration).
 */
export class Condition {
  private pending: { promise: Promise<void>; resolve: () => void } | undefined;

  wait(): Promise<void> {
    if (!this.pending) {
      let resolve: () => void = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.pending = { promise, resolve };
    }
    return this.pending.promise;
  }

  notify(): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve();
  }
}
