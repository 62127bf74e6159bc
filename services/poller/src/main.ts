// The poller: pulls each platform's data incrementally with a valid token.
// Started as `node --import @syncwell/telemetry/register services/poller/src/main.ts`, so tracing is
// set up before anything here is imported.
import { runService } from "@syncwell/service";
import { pollerService } from "./service.ts";

await runService(pollerService());
