import { enqueueEvents } from "@syncwell/bus";
import { createEvent } from "@syncwell/contracts";
import { withTransaction } from "@syncwell/db";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  type ConnectionPatch,
  type ConnectionRow,
  findConnection,
  healthyState,
  sealTokens,
  updateConnection,
} from "../repositories/connections.repository.ts";
import { toConnectionView } from "./connection-view.ts";
import type { ConnectionRoutesDeps } from "./deps.ts";
import { idParams, notFound, parseInput, sendError } from "./http.ts";
import {
  atMostOneExpiry,
  expiresAtField,
  expiresInField,
  normaliseScopes,
  resolveExpiry,
  scopesField,
  tokenField,
} from "./token-fields.ts";

/**
 * Every field is optional, but at least one is needed. With `accessToken` (a new grant, e.g. after
 * the user re-authorized) the expiry is that of the new token, as on create: `expiresAt`,
 * `expiresIn`, or neither for a token that never expires. Without it, `expiresAt` / `expiresIn`
 * correct the current token's expiry (`expiresAt: null`: it never expires).
 * `refreshToken: null` removes the stored refresh token; leaving it out keeps it.
 */
export const updateConnectionBody = z
  .strictObject({
    accessToken: tokenField.optional(),
    refreshToken: tokenField.nullable().optional(),
    scopes: scopesField.optional(),
    expiresAt: expiresAtField.nullable().optional(),
    expiresIn: expiresInField.optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: "give at least one of accessToken, refreshToken, scopes, expiresAt, expiresIn",
  })
  .check(atMostOneExpiry);

type UpdateResult =
  | { kind: "updated"; row: ConnectionRow; reauthorized: boolean; previousStatus: ConnectionRow["status"] }
  | { kind: "not_found" }
  | { kind: "revoked" };

/**
 * PUT /connections/:id — new tokens, scopes or expiry. New tokens mean the user granted access
 * again: the status goes back to connected, the failure counters to zero, and `token.refreshed`
 * is enqueued in the same transaction (`recovered` when the connection was failing), so the
 * notifier resolves its warnings and the poller resumes, as after a successful refresh.
 */
export function updateConnectionRoute(app: FastifyInstance, deps: ConnectionRoutesDeps): void {
  app.put("/connections/:id", async (request, reply) => {
    const { id } = parseInput(idParams, request.params, "params");
    const body = parseInput(updateConnectionBody, request.body, "body");
    const now = new Date();

    const result = await withTransaction(deps.pool, async (tx): Promise<UpdateResult> => {
      const current = await findConnection(tx, id, { forUpdate: true });
      if (!current) return { kind: "not_found" };
      if (current.status === "revoked") return { kind: "revoked" };

      // New credentials from the provider mean the user granted access again.
      const reauthorized = body.accessToken !== undefined || typeof body.refreshToken === "string";
      const patch: ConnectionPatch = {};
      if (body.scopes !== undefined) patch.scopes = normaliseScopes(body.scopes);
      if (body.accessToken !== undefined || body.refreshToken !== undefined) {
        // Both tokens are written again under the current key, so token_key_id stays true for the row;
        // only the one kept is decrypted.
        const keep = (sealed: string | null) => (sealed === null ? null : deps.cipher.decrypt(sealed));
        Object.assign(
          patch,
          sealTokens(
            {
              accessToken: body.accessToken ?? keep(current.accessTokenEncrypted),
              refreshToken:
                body.refreshToken === undefined ? keep(current.refreshTokenEncrypted) : body.refreshToken,
            },
            deps.cipher,
          ),
        );
      }
      if (reauthorized) Object.assign(patch, healthyState);
      // A newly issued refresh token starts its idle period now.
      if (typeof body.refreshToken === "string") patch.refreshTokenLastUsedAt = now;
      if (body.accessToken !== undefined || body.expiresAt !== undefined || body.expiresIn !== undefined) {
        Object.assign(patch, resolveExpiry(body, now));
      }

      const row = await updateConnection(tx, id, patch);
      if (!row) throw new Error(`connection ${id} vanished while locked`);
      if (reauthorized) {
        await enqueueEvents(
          tx,
          createEvent(
            "token.refreshed",
            {
              connectionId: row.id,
              userId: row.userId,
              provider: row.provider,
              expiresAt: row.accessTokenExpiresAt?.toISOString() ?? null,
              refreshTokenRotated: typeof body.refreshToken === "string",
              recovered: current.status !== "connected",
              previousStatus: current.status,
            },
            { source: deps.source, occurredAt: now },
          ),
        );
      }
      return { kind: "updated", row, reauthorized, previousStatus: current.status };
    });

    switch (result.kind) {
      case "not_found":
        return notFound(reply, id);
      case "revoked":
        return sendError(reply, 409, {
          error: "connection_revoked",
          message: `connection ${id} is revoked; register it again with POST /connections`,
        });
      case "updated":
        request.log.info(
          {
            connectionId: result.row.id,
            provider: result.row.provider,
            reauthorized: result.reauthorized,
            previousStatus: result.previousStatus,
          },
          "connection updated",
        );
        return reply.send(toConnectionView(result.row));
    }
  });
}
