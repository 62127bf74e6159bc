import type { FastifyInstance } from "fastify";
import type { SimulatorContext } from "../../context.ts";
import { addDataRoute } from "./add-data.route.ts";
import { addFaultRoute } from "./add-fault.route.ts";
import { clearEmailsRoute } from "./clear-emails.route.ts";
import { clearFaultsRoute } from "./clear-faults.route.ts";
import { createGrantRoute } from "./create-grant.route.ts";
import { dataStatsRoute } from "./data-stats.route.ts";
import { expireCursorsRoute } from "./expire-cursors.route.ts";
import { listEmailsRoute } from "./list-emails.route.ts";
import { listFaultsRoute } from "./list-faults.route.ts";
import { listGrantsRoute } from "./list-grants.route.ts";
import { listRequestsRoute } from "./list-requests.route.ts";
import { resetRoute } from "./reset.route.ts";
import { revokeRoute } from "./revoke.route.ts";
import { setEmailRateLimitRoute } from "./set-email-rate-limit.route.ts";
import { setLatencyRoute } from "./set-latency.route.ts";
import { setParticipantsRoute } from "./set-participants.route.ts";
import { setRateLimitRoute } from "./set-rate-limit.route.ts";
import { statsRoute } from "./stats.route.ts";
import { upsertClientRoute } from "./upsert-client.route.ts";

export const controlRoutes: ReadonlyArray<(app: FastifyInstance, ctx: SimulatorContext) => void> = [
  createGrantRoute,
  listGrantsRoute,
  revokeRoute,
  addFaultRoute,
  listFaultsRoute,
  clearFaultsRoute,
  listRequestsRoute,
  statsRoute,
  setLatencyRoute,
  setRateLimitRoute,
  upsertClientRoute,
  resetRoute,
  dataStatsRoute,
  addDataRoute,
  setParticipantsRoute,
  expireCursorsRoute,
  listEmailsRoute,
  clearEmailsRoute,
  setEmailRateLimitRoute,
];
