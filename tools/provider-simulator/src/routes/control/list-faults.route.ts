import type { FastifyInstance } from "fastify";
import type { SimulatorContext } from "../../context.ts";

/** `GET /_control/faults` — scripted faults still pending, with their remaining uses. */
export function listFaultsRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.get("/_control/faults", async () => ({ faults: state.listFaults() }));
}
