export type WaitForOptions = {
  /** Give up after this long. Default 10 s. */
  timeoutMs?: number;
  /** Pause between probes. Default 50 ms; raise it for probes that are costly to run. */
  intervalMs?: number;
};

/**
 * Runs `probe` until it returns something other than `undefined` or `false` and resolves to that
 * value (so a probe can both test and fetch: `() => rows.find(...)`). Throws
 * `timed out after <ms> ms waiting for <what>` once `timeoutMs` has passed; the probe still gets one
 * last try after the deadline, so a slow machine is not failed for a value that did arrive.
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  options: WaitForOptions = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Whether `promise` settles (resolves or rejects) within `ms`: for tests that hold a lock and check
 * that a call waits for it. Its outcome is left to the caller, who awaits the promise later.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  const done = () => {
    settled = true;
  };
  promise.then(done, done);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return settled;
}
