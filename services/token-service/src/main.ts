// The token-service: owns credentials and refreshes OAuth tokens before they expire.
// Started as `node --import @syncwell/telemetry/register services/token-service/src/main.ts`, so tracing is
// set up before anything here is imported.
import { runService } from "@syncwell/service";
import { tokenService } from "./service.ts";

await runService(tokenService);
