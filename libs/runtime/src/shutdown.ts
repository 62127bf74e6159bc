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

type Step = { name: string; fn: () => Promise<void> | void };

/**
 * Graceful shutdown. The process-event wiring (signals once, a second signal forces exit,
 * uncaughtException / unhandledRejection, exit codes) is close-with-grace's; ordering, per-step
 * timing and the overall deadline that names the step still running are ours, since `run` must
 * also work without a signal (a failed start-up, tests).
 */
export function createShutdown(options: ShutdownOptions): Shutdown {
  const { logger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const steps: Step[] = [];
  /** The one run of the steps, once started; resolves to whether every step stopped cleanly. */
  let running: Promise<boolean> | undefined;
  let installed = false;

  function start(reason: string): Promise<boolean> {
    running ??= runSteps([...steps].reverse(), reason, { logger, timeoutMs: options.timeoutMs, exit });
    return running;
  }

  return {
    add(name, fn) {
      if (running) {
        logger.warn({ step: name }, "shutdown already started; step not registered");
        return;
      }
      steps.push({ name, fn });
    },

    async run(reason) {
      await start(reason);
    },

    installSignalHandlers() {
      if (installed) return;
      installed = true;
      installProcessHandlers(logger, start);
    },
  };
}

/**
 * Runs `order`'s steps one after another; past `timeoutMs` it logs the step still running and the
 * ones not started, and exits 1. Resolves to false when a step failed.
 */
async function runSteps(
  order: readonly Step[],
  reason: string,
  { logger, timeoutMs, exit }: { logger: Logger; timeoutMs: number; exit: (code: number) => void },
): Promise<boolean> {
  const notFinished = new Set(order.map((step) => step.name));
  let current: string | undefined;
  const started = performance.now();
  logger.info({ reason, steps: order.map((step) => step.name), timeoutMs }, "shutting down");

  const deadline = setTimeout(() => {
    logger.error(
      {
        reason,
        timeoutMs,
        running: current,
        notStarted: [...notFinished].filter((name) => name !== current),
      },
      `shutdown did not finish within ${timeoutMs}ms; still running: ${current ?? "(none)"}`,
    );
    exit(1);
  }, timeoutMs);

  let ok = true;
  try {
    for (const step of order) {
      current = step.name;
      if (!(await stopStep(step, logger))) ok = false;
      notFinished.delete(step.name);
    }
    current = undefined;
  } finally {
    clearTimeout(deadline);
  }
  logger.info({ reason, ok, durationMs: Math.round(performance.now() - started) }, "shutdown complete");
  return ok;
}

/** Runs one step and logs how long it took; resolves to false (logged, not thrown) when it failed. */
async function stopStep(step: Step, logger: Logger): Promise<boolean> {
  const stepStarted = performance.now();
  try {
    await step.fn();
    logger.info(
      { step: step.name, durationMs: Math.round(performance.now() - stepStarted) },
      `stopped ${step.name}`,
    );
    return true;
  } catch (err) {
    logger.error(
      { err, step: step.name, durationMs: Math.round(performance.now() - stepStarted) },
      `failed to stop ${step.name}`,
    );
    return false;
  }
}

/** SIGTERM/SIGINT and uncaught errors call `start`, then exit (1 when it resolves to false). */
function installProcessHandlers(logger: Logger, start: (reason: string) => Promise<boolean>): void {
  let lastUncaught: { err: unknown; origin: string } | undefined;
  // Fires before the uncaughtException listener with the origin close-with-grace does not pass.
  process.on("uncaughtExceptionMonitor", (err, origin) => {
    lastUncaught = { err, origin };
  });
  closeWithGrace(
    {
      delay: false, // runSteps owns the deadline, so that `run` is bounded without a signal too
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
      onSecondSignal: (signal) => logger.warn({ signal }, `second ${signal} during shutdown; exiting now`),
      onSecondError: (err) => logger.error({ err }, "another uncaught error during shutdown; exiting now"),
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
}
