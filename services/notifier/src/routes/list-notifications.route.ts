import { parseInput } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { listNotifications } from "../repositories/user-notifications.repository.ts";
import { userOf } from "./access-token.ts";
import type { NotificationRoutesDeps } from "./deps.ts";
import { toNotificationView } from "./notification-view.ts";

/** The cursor is the last id of the previous page, base64url: opaque to callers. */
const cursorField = z
  .string()
  .max(200)
  .transform((value, ctx) => {
    const id = z.uuid().safeParse(Buffer.from(value, "base64url").toString("utf8"));
    if (id.success) return id.data;
    ctx.addIssue({ code: "custom", message: "is not a cursor returned by this endpoint" });
    return z.NEVER;
  });

export const listNotificationsQuery = z.strictObject({
  status: z.enum(["unread", "read", "resolved"]).optional(),
  kind: z
    .string()
    .regex(/^[a-z][a-z0-9_]*$/, "is not a notification kind")
    .max(64)
    .optional(),
  priority: z.enum(["low", "normal", "high", "critical"]).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: cursorField.optional(),
});

/**
 * GET /v1/notifications — the token's user's notifications, newest first, keyset-paginated
 * (`next` is the following page's cursor, null on the last), filtered by status, kind, priority.
 */
export function listNotificationsRoute(app: FastifyInstance, deps: NotificationRoutesDeps): void {
  app.get("/v1/notifications", async (request, reply) => {
    const query = parseInput(listNotificationsQuery, request.query, "query");
    const { cursor, limit, ...filter } = query;
    const rows = await listNotifications(
      deps.db,
      userOf(request),
      { ...filter, beforeId: cursor },
      limit + 1,
    );
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return reply.send({
      items: items.map(toNotificationView),
      next: rows.length > limit && last ? Buffer.from(last.id, "utf8").toString("base64url") : null,
    });
  });
}
