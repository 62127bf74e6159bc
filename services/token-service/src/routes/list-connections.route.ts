import { connectionStatuses } from "@syncwell/contracts";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { listConnections } from "../repositories/connections.repository.ts";
import { type ConnectionView, toConnectionView } from "./connection-view.ts";
import type { ConnectionRoutesDeps } from "./deps.ts";
import { parseInput } from "./http.ts";

/** The cursor is the last id of the previous page, opaque to callers (base64url). */
const cursorField = z
  .string()
  .max(200)
  .transform((value, ctx) => {
    const id = Buffer.from(value, "base64url").toString("utf8");
    if (z.uuid().safeParse(id).success) return id;
    ctx.addIssue({ code: "custom", message: "is not a cursor returned by this endpoint" });
    return z.NEVER;
  });

export function listConnectionsQuery(providers: readonly [string, ...string[]]) {
  return z.strictObject({
    userId: z.uuid().optional(),
    provider: z.enum(providers).optional(),
    /** One status or several, comma-separated (`status=warning,needs_reauth`). */
    status: z
      .string()
      .transform((value) => value.split(",").map((s) => s.trim()))
      .pipe(z.array(z.enum(connectionStatuses)).min(1))
      .optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: cursorField.optional(),
  });
}

export type ConnectionPage = { items: ConnectionView[]; nextCursor: string | null };

/** GET /connections — filtered, in creation order, keyset-paginated (`nextCursor` null on the last page). */
export function listConnectionsRoute(app: FastifyInstance, deps: ConnectionRoutesDeps): void {
  const querySchema = listConnectionsQuery(deps.providers);

  app.get("/connections", async (request, reply) => {
    const query = parseInput(querySchema, request.query, "query");
    // One row more than asked tells whether another page exists without a count.
    const rows = await listConnections(
      deps.prisma,
      { userId: query.userId, provider: query.provider, status: query.status },
      { limit: query.limit + 1, afterId: query.cursor },
    );
    const items = rows.slice(0, query.limit);
    const last = items.at(-1);
    const page: ConnectionPage = {
      items: items.map(toConnectionView),
      nextCursor: rows.length > query.limit && last ? Buffer.from(last.id).toString("base64url") : null,
    };
    return reply.send(page);
  });
}
