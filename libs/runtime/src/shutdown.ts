import closeWithGrace from "close-with-grace";
import type { Logger } from "pino";

export type ShutdownOptions = {
  logger: Logger;
  /** Bound on the whole shutdown; past it the process exits 1. */
  timeoutMs: number;
  /** Replaceable for tests; default `process.exit`. */
  exit?: (code: number) => void;
};

export type Shutdown = {
  /** Registers a stop step. Steps run in reverse order of registration: last started, first stopped. */
  add(name: string, fn: () => Promise<void> | void): void;
  /** Runs every step once (later calls return the same promise). Failing steps are logged and skipped. */
  run(reason: string): Promise<void>;
  /** SIGTERM/SIGINT and uncaught errors start `run`, then exit (0, or 1 after an error or failed step). */
  installSignalHandlers(): void;
};

type Hook = { name: string; fn: () => Promise<void> | void };

/**
 * Graceful shutdown. The process-event wiring (signals once, a second signal forces exit,
 * uncaughtException / unhandledRejection, exit codes) is close-with-grace's; ordering, per-step
 * timing and the overall deadline that names the step still running are ours, since `run` must
 * also work without a signal (a failed start-up, tests).
 */
export function createShutdown(options: ShutdownOptions): Shutdown {
  const { logger, timeoutMs } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const hooks: Hook[] = [];
  let running: Promise<boolean> | undefined;
  let installed = false;
  let lastUncaught: { err: unknown; origin: string } | undefined;

  async function runHooks(reason: string): Promise<boolean> {
    const order = [...hooks].reverse();
    const pending = new Set(order.map((hook) => hook.name));
    let current: string | undefined;
    const started = performance.now();
    logger.info({ reason, steps: order.map((hook) => hook.name), timeoutMs }, "shutting down");

    const deadline = setTimeout(() => {
      logger.error(
        { reason, timeoutMs, running: current, notStarted: [...pending].filter((name) => name !== current) },
        `shutdown did not finish within ${timeoutMs}ms; still running: ${current ?? "(none)"}`,
      );
      exit(1);
    }, timeoutMs);

    let ok = true;
    try {
      for (const hook of order) {
        current = hook.name;
        const hookStarted = performance.now();
        try {
          await hook.fn();
          logger.info(
            { step: hook.name, durationMs: Math.round(performance.now() - hookStarted) },
            `stopped ${hook.name}`,
          );
        } catch (err) {
          ok = false;
          logger.error(
            { err, step: hook.name, durationMs: Math.round(performance.now() - hookStarted) },
            `failed to stop ${hook.name}`,
          );
        }
        pending.delete(hook.name);
      }
      current = undefined;
    } finally {
      clearTimeout(deadline);
    }
    logger.info({ reason, ok, durationMs: Math.round(performance.now() - started) }, "shutdown complete");
    return ok;
  }

  function start(reason: string): Promise<boolean> {
    running ??= runHooks(reason);
    return running;
  }

  return {
    add(name, fn) {
      if (running) {
        logger.warn({ step: name }, "shutdown already started; step not registered");
        return;
      }
      hooks.push({ name, fn });
    },

    async run(reason) {
      await start(reason);
    },

    installSignalHandlers() {
      if (installed) return;
      installed = true;
      // Fires before the uncaughtException listener with the origin close-with-grace does not pass.
      process.on("uncaughtExceptionMonitor", (err, origin) => {
        lastUncaught = { err, origin };
      });
      closeWithGrace(
        {
          delay: false, // runHooks owns the deadline, so that `run` is bounded without a signal too
          logger: { error: (message: unknown) => logger.error({ detail: message }, "shutdown error") },
          skip: [
            "SIGHUP",
            "SIGQUIT",
            "SIGILL",
            "SIGTRAP",
            "SIGABRT",
            "SIGBUS",
            "SIGFPE",
            "SIGSEGV",
            "SIGUSR2",
            "beforeExit",
          ],
          onSecondSignal: (signal) =>
            logger.warn({ signal }, `second ${signal} during shutdown; exiting now`),
          onSecondError: (err) =>
            logger.error({ err }, "another uncaught error during shutdown; exiting now"),
        },
        async ({ signal, err }) => {
          if (err !== undefined) {
            const origin = lastUncaught?.err === err ? lastUncaught.origin : "unhandledRejection";
            logger.fatal(
              { err, origin, uptimeSeconds: Math.round(process.uptime()) },
              `${origin}; shutting down`,
            );
          } else {
            logger.info({ signal }, `received ${signal}`);
          }
          const ok = await start(signal ?? (err !== undefined ? "uncaught error" : "manual"));
          if (!ok) throw new Error("one or more shutdown steps failed");
        },
      );
    },
  };
}
