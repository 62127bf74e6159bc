import { parseInput, sendError } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { findNotification, markRead } from "../repositories/user-notifications.repository.ts";
import { userOf } from "./access-token.ts";
import type { NotificationRoutesDeps } from "./deps.ts";
import { toNotificationView } from "./notification-view.ts";

const params = z.strictObject({ id: z.uuid() });

/**
 * POST /v1/notifications/:id/read — marks one notification of the token's user read (a resolved
 * one keeps its status and gets its read time) and answers it as it is now. Marking one read again
 * changes nothing. Another user's id is a 404, as an unknown one.
 */
export function markReadRoute(app: FastifyInstance, deps: NotificationRoutesDeps): void {
  app.post("/v1/notifications/:id/read", async (request, reply) => {
    const { id } = parseInput(params, request.params, "params");
    const userId = userOf(request);
    const change = await markRead(deps.db, userId, id, new Date());
    if (change) deps.publishChange(userId, { notificationId: change.id, seq: change.seq });
    const row = await findNotification(deps.db, userId, id);
    if (!row) return sendError(reply, 404, { error: "not_found", message: `no notification ${id}` });
    return reply.send(toNotificationView(row));
  });
}
