// The health-scorer: recomputes connection, relationship and deal health.
// Started as `node --import @syncwell/telemetry/register services/health-scorer/src/main.ts`, so tracing is
// set up before anything here is imported.
import { runService } from "@syncwell/service";
import { healthScorerService } from "./service.ts";

await runService(healthScorerService);
