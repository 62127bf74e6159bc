/**
 * Process-wide telemetry state, kept free of SDK imports so that importing `@syncwell/telemetry`
 * for its logger does not load the SDK. The SDK lives on globalThis so `shutdownTelemetry()` finds
 * the instance started by `--import @syncwell/telemetry/register` whichever URL reached it.
 */
type Stoppable = { shutdown(): Promise<void> };

const SDK_KEY = Symbol.for("syncwell.telemetry.sdk");
const holder = globalThis as { [SDK_KEY]?: Stoppable };

/** Routes polled by Kubernetes and Prometheus: tracing them would bury real traffic in Jaeger. */
export const UNTRACED_PATHS: readonly string[] = ["/healthz", "/readyz", "/metrics"];

export function isUntracedPath(url: string | undefined): boolean {
  const path = (url ?? "").split("?")[0] ?? "";
  return UNTRACED_PATHS.includes(path);
}

export function isTelemetryDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true";
}

export function isTelemetryStarted(): boolean {
  return holder[SDK_KEY] !== undefined;
}

export function setStartedSdk(sdk: Stoppable): void {
  holder[SDK_KEY] = sdk;
}

export type ShutdownTelemetryOptions = {
  /** Upper bound on the final flush; default 5000 ms. An unreachable collector must not hold up exit. */
  timeoutMs?: number;
  /** Told about a failed or timed-out flush; default: one JSON line on stderr. */
  onError?: (err: unknown) => void;
};

function reportToStderr(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(
    `${JSON.stringify({ level: "warn", msg: "telemetry flush failed; spans dropped", err: message })}\n`,
  );
}

/**
 * Flushes pending spans and stops the SDK. Never rejects (a collector that is down only loses
 * spans) and returns within `timeoutMs`. Safe to call when telemetry never started.
 */
export async function shutdownTelemetry(options: ShutdownTelemetryOptions = {}): Promise<void> {
  const sdk = holder[SDK_KEY];
  if (!sdk) return;
  holder[SDK_KEY] = undefined;
  const timeoutMs = options.timeoutMs ?? 5000;
  const onError = options.onError ?? reportToStderr;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onError(new Error(`telemetry flush did not finish within ${timeoutMs}ms`));
      resolve();
    }, timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([sdk.shutdown().catch(onError), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
