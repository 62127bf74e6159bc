import { loadConfig } from "./config.ts";
import { createSimulator } from "./server.ts";

const config = loadConfig();
const simulator = await createSimulator({
  port: config.PORT,
  host: config.HOST,
  latencyMs: config.SIM_LATENCY_MS,
  latencyJitterMs: config.SIM_LATENCY_JITTER_MS,
  requestLogCapacity: config.SIM_REQUEST_LOG_SIZE,
  dataItems: { min: config.SIM_DATA_ITEMS_MIN, max: config.SIM_DATA_ITEMS_MAX },
  dataCacheSize: config.SIM_DATA_CACHE_SIZE,
  logger: { level: config.LOG_LEVEL },
});
simulator.app.log.info(
  { latencyMs: config.SIM_LATENCY_MS, jitterMs: config.SIM_LATENCY_JITTER_MS },
  `provider simulator listening on ${simulator.url} (bound to ${config.HOST}:${config.PORT})`,
);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    simulator.close().then(
      () => process.exit(0),
      (err: unknown) => {
        simulator.app.log.error({ err }, "error while closing");
        process.exit(1);
      },
    );
  });
}
