// The poller: pulls each platform's data incrementally with a valid token.
// Started as `node --import @syncwell/telemetry/register services/poller/src/main.ts`, so tracing is
// set up before anything here is imported.
import { runService } from "@syncwell/runtime";
import { pollerConfigSchema } from "./config.ts";
import { connectors } from "./connectors/index.ts";
import { pollerConsumers } from "./consumers/index.ts";

await runService({
  name: "poller",
  configSchema: pollerConfigSchema,
  consumers: pollerConsumers(connectors),
});
