import type { FastifyInstance } from "fastify";
import type { SimulatorContext } from "../../context.ts";
import { resourceNames } from "../../data/index.ts";

export type DataStats = { accounts: number; pinned: number; capacity: number; resources: string[] };

/** `GET /_control/data` — generated accounts in memory (pinned = changed through the control API) and the resources. */
export function dataStatsRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.get("/_control/data", async () => {
    const stats: DataStats = { ...state.data.stats(), resources: resourceNames };
    return stats;
  });
}
