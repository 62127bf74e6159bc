import { bearerAuth } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { bulkUpsertContactsRoute } from "./bulk-upsert-contacts.route.ts";
import { bulkUpsertDealsRoute } from "./bulk-upsert-deals.route.ts";
import { createContactRoute } from "./create-contact.route.ts";
import { createDealRoute } from "./create-deal.route.ts";
import { deleteContactRoute } from "./delete-contact.route.ts";
import { deleteDealRoute } from "./delete-deal.route.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { getContactRoute } from "./get-contact.route.ts";
import { getDealRoute } from "./get-deal.route.ts";
import { getHealthRoute } from "./get-health.route.ts";
import { listContactsRoute } from "./list-contacts.route.ts";
import { listDealsRoute } from "./list-deals.route.ts";
import { recordActivityRoute } from "./record-activity.route.ts";
import { updateContactRoute } from "./update-contact.route.ts";
import { updateDealRoute } from "./update-deal.route.ts";

export type { ChangedSubject, HealthRoutesDeps } from "./deps.ts";

/**
 * The health scorer's API (contacts, deals, scores, activity), behind any of the HEALTH_API_KEYS.
 * Registered in a child scope so the hook covers these routes only: probes and metrics stay open.
 */
export async function registerHealthRoutes(app: FastifyInstance, deps: HealthRoutesDeps): Promise<void> {
  await app.register(async (scope) => {
    scope.addHook("onRequest", bearerAuth(deps.apiKeys, { realm: "health-scorer" }));
    createContactRoute(scope, deps);
    getContactRoute(scope, deps);
    listContactsRoute(scope, deps);
    updateContactRoute(scope, deps);
    deleteContactRoute(scope, deps);
    bulkUpsertContactsRoute(scope, deps);
    createDealRoute(scope, deps);
    getDealRoute(scope, deps);
    listDealsRoute(scope, deps);
    updateDealRoute(scope, deps);
    deleteDealRoute(scope, deps);
    bulkUpsertDealsRoute(scope, deps);
    getHealthRoute(scope, deps);
    recordActivityRoute(scope, deps);
  });
}
