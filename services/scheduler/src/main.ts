// The scheduler: the only clock: publishes tick.<schedule> for each cron slot.
// Started as `node --import @syncwell/telemetry/register services/scheduler/src/main.ts`, so tracing is
// set up before anything here is imported.
import { runService } from "@syncwell/service";
import { schedulerService } from "./service.ts";

await runService(schedulerService);
