// The notifier: decides and delivers in-app and email notifications.
// Started as `node --import @syncwell/telemetry/register services/notifier/src/main.ts`, so tracing is
// set up before anything here is imported.
import { runService } from "@syncwell/service";
import { notifierService } from "./service.ts";

await runService(notifierService);
