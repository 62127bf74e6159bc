/**
 * `node --import @syncwell/telemetry/register services/<name>/src/main.ts`
 *
 * Runs before the application is imported: registers the import-in-the-middle ESM loader hook
 * (so ESM imports of http/pg can be patched), then starts the SDK. Uses the message channel so the
 * loader only wraps the modules an instrumentation asked for, and waits until the loader thread
 * has acknowledged those before the app starts importing.
 */
import { register } from "node:module";
import { isMainThread } from "node:worker_threads";
import { createAddHookMessageChannel } from "import-in-the-middle";
import { isTelemetryDisabled } from "./lifecycle.ts";

// `--import` also runs in worker threads (pino transports use them): one SDK per process.
if (isMainThread && !isTelemetryDisabled()) {
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register("import-in-the-middle/hook.mjs", import.meta.url, registerOptions);
  // Imported only now: nothing the SDK pulls in may be loaded before the hook is in place.
  const { startTelemetry } = await import("./sdk.ts");
  startTelemetry();
  await waitForAllMessagesAcknowledged();
}
