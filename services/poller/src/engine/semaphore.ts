/**
 * Counting semaphore whose free capacity can be read and taken in bulk: a lane must know how many
 * polls it can start *before* it claims rows, so it never holds a claim (and its lease) it cannot
 * work on (p-limit queues functions, which is the wrong shape for that). Waiting for capacity is a
 * `Signal` the engine notifies on release.
 */
export class Semaphore {
  readonly capacity: number;
  private used = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError("capacity must be a positive integer");
    this.capacity = capacity;
  }

  get free(): number {
    return this.capacity - this.used;
  }

  /** Takes up to `n` free slots at once; returns how many it took. */
  take(n: number): number {
    const granted = Math.max(0, Math.min(n, this.free));
    this.used += granted;
    return granted;
  }

  release(n = 1): void {
    if (n <= 0) return;
    if (this.used < n) throw new Error("release without take");
    this.used -= n;
  }
}

/**
 * A level-free wake-up: `wait()` resolves at the next `notify()`. Every waiter shares one promise,
 * so waiting in a loop adds nothing that outlives the next notification (unlike racing a growing
 * set of promises, or registering a waiter per iteration).
 */
export class Signal {
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
