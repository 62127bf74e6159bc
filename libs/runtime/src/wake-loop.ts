/**
 * A background pass run on demand: `wake()` starts a pass unless one is running; a wake-up during a
 * pass runs one more pass after it (checked after the pass's last await, so none is lost), never
 * two at once. For workers woken by notifications, timers and their own writes (the outbox relay,
 * the email worker).
 */
export type WakeLoopOptions = {
  /** One pass; resolves true to ask for another one right after (a retry after a backoff). */
  pass: () => Promise<boolean | undefined>;
  /** No pass starts, and no further pass follows, once this is true. */
  stopped: () => boolean;
  /** Runs the whole loop, e.g. without tracing (a timer's pass is not an operation of anyone's). */
  wrap?: (loop: () => Promise<void>) => Promise<void>;
};

export class WakeLoop {
  private readonly options: WakeLoopOptions;
  private current: Promise<void> | undefined;
  private again = false;

  constructor(options: WakeLoopOptions) {
    this.options = options;
  }

  /** The passes running now, until the last one asked for ends; undefined when idle. */
  get running(): Promise<void> | undefined {
    return this.current;
  }

  /** Starts a pass, or asks the running one for another; resolves when the passes end. */
  wake(): Promise<void> {
    if (this.options.stopped()) return Promise.resolve();
    if (this.current) {
      this.again = true;
      return this.current;
    }
    const loop = () => this.loop();
    this.current = (this.options.wrap ? this.options.wrap(loop) : loop()).finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  /** Wakes it and waits until no pass is running (passes woken meanwhile included). */
  async flush(): Promise<void> {
    await this.wake();
    while (this.current) await this.current;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      if (await this.options.pass()) this.again = true;
    } while (this.again && !this.options.stopped());
  }
}
