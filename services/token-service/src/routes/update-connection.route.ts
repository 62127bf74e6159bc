import { enqueueEvents } from "@syncwell/bus";
import { type AnyEvent, createEvent } from "@syncwell/contracts";
import type { TokenCipher } from "@syncwell/credentials";
import type { PrismaDb } from "@syncwell/db";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  type ConnectionPatch,
  type ConnectionRow,
  type ConnectionTokens,
  findConnection,
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
  grantFields,
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

type UpdateBody = z.output<typeof updateConnectionBody>;

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
    const result = await deps.prisma.$transaction((tx) => changeConnection(tx, deps, { id, body, now }));

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

type Change = { id: string; body: UpdateBody; now: Date };

async function changeConnection(
  tx: PrismaDb,
  deps: ConnectionRoutesDeps,
  { id, body, now }: Change,
): Promise<UpdateResult> {
  const current = await findConnection(tx, id, { forUpdate: true });
  if (!current) return { kind: "not_found" };
  if (current.status === "revoked") return { kind: "revoked" };

  const row = await updateConnection(tx, id, connectionPatch(body, current, deps.cipher, now));
  const reauthorized = isReauthorization(body);
  if (reauthorized) await enqueueEvents(tx, tokenRefreshed(row, current, body, deps.source, now));
  return { kind: "updated", row, reauthorized, previousStatus: current.status };
}

/** New credentials from the provider mean the user granted access again. */
const isReauthorization = (body: UpdateBody) =>
  body.accessToken !== undefined || typeof body.refreshToken === "string";

function connectionPatch(
  body: UpdateBody,
  current: ConnectionRow,
  cipher: TokenCipher,
  now: Date,
): ConnectionPatch {
  const patch: ConnectionPatch = {};
  if (body.scopes !== undefined) patch.scopes = normaliseScopes(body.scopes);
  const expiry =
    body.accessToken !== undefined || body.expiresAt !== undefined || body.expiresIn !== undefined
      ? resolveExpiry(body, now)
      : undefined;
  if (isReauthorization(body)) {
    Object.assign(patch, grantFields(tokensAfter(body, current, cipher), expiry, cipher));
    // A newly issued refresh token starts its idle period now.
    if (typeof body.refreshToken === "string") patch.refreshTokenLastUsedAt = now;
  } else {
    Object.assign(patch, expiry);
    // The refresh token removed: the access token kept is sealed again beside it.
    if (body.refreshToken === null)
      Object.assign(patch, sealTokens(tokensAfter(body, current, cipher), cipher));
  }
  return patch;
}

/**
 * The tokens once the body is applied: both are written again under the current key, so
 * token_key_id stays true for the row; only the one kept is decrypted.
 */
function tokensAfter(body: UpdateBody, current: ConnectionRow, cipher: TokenCipher): ConnectionTokens {
  const keep = (sealed: string | null) => (sealed === null ? null : cipher.decrypt(sealed));
  return {
    accessToken: body.accessToken ?? keep(current.accessTokenEncrypted),
    refreshToken: body.refreshToken === undefined ? keep(current.refreshTokenEncrypted) : body.refreshToken,
  };
}

function tokenRefreshed(
  row: ConnectionRow,
  previous: ConnectionRow,
  body: UpdateBody,
  source: string,
  now: Date,
): AnyEvent {
  return createEvent(
    "token.refreshed",
    {
      connectionId: row.id,
      userId: row.userId,
      provider: row.provider,
      expiresAt: row.accessTokenExpiresAt?.toISOString() ?? null,
      refreshTokenRotated: typeof body.refreshToken === "string",
      recovered: previous.status !== "connected",
      previousStatus: previous.status,
    },
    { source, occurredAt: now },
  );
}
