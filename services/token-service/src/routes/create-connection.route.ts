import type { TokenCipher } from "@syncwell/credentials";
import { type PrismaDb, uniqueViolation } from "@syncwell/db";
import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import {
  type ConnectionRow,
  findConnection,
  findConnectionByAccount,
  insertConnection,
  type ProviderAccount,
  updateConnection,
} from "../repositories/connections.repository.ts";
import {
  findIdempotencyKey,
  lockIdempotencyKey,
  purgeExpiredIdempotencyKeys,
  requestHash,
  saveIdempotencyKey,
} from "../repositories/idempotency.repository.ts";
import { ensureUser } from "../repositories/users.repository.ts";
import { toConnectionView } from "./connection-view.ts";
import type { ConnectionRoutesDeps } from "./deps.ts";
import { parseInput, sendError } from "./http.ts";
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

export function createConnectionBody(providers: readonly [string, ...string[]]) {
  return z
    .strictObject({
      userId: z.uuid(),
      /** Creates the user when no user has `userId` yet; ignored for an existing user. */
      userEmail: z.email().max(320).optional(),
      provider: z.enum(providers),
      providerAccountId: z.string().min(1).max(255).optional(),
      scopes: scopesField,
      accessToken: tokenField,
      refreshToken: tokenField.optional(),
      expiresAt: expiresAtField.optional(),
      expiresIn: expiresInField.optional(),
    })
    .check(atMostOneExpiry);
}

type CreateBody = z.output<ReturnType<typeof createConnectionBody>>;

/** Printable ASCII, as the IETF Idempotency-Key draft and Stripe accept. */
const idempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, "must be 1 to 255 printable ASCII characters without spaces")
    .optional(),
});

/** One registration: the body, its `Idempotency-Key` and fingerprint, and the request's time. */
type Registration = { body: CreateBody; key: string | undefined; hash: string; now: Date };

type CreateResult =
  | { kind: "created"; row: ConnectionRow; reactivated: boolean }
  | { kind: "replayed"; row: ConnectionRow }
  | { kind: "key_reused" }
  | { kind: "exists"; connectionId: string }
  | { kind: "user_missing" }
  | { kind: "email_taken" };

const ACCOUNT_UNIQUE = "connections_user_id_provider_provider_account_id_key";

/** A registration over a revoked row starts with no refresh history, as a new row does. */
const NO_REFRESH_HISTORY = {
  refreshTokenLastUsedAt: null,
  lastRefreshedAt: null,
  lastRefreshAttemptAt: null,
};

/**
 * POST /connections — registers a connection. A provider account that already has a live
 * connection is a 409 naming it (update it with PUT); one whose connection was revoked is
 * reconnected in place, keeping its id. No event: nothing downstream waits for a new connection
 * (the poller finds it as due), and no contract exists for one.
 */
export function createConnectionRoute(app: FastifyInstance, deps: ConnectionRoutesDeps): void {
  const bodySchema = createConnectionBody(deps.providers);

  app.post("/connections", async (request, reply) => {
    const { "idempotency-key": key } = parseInput(idempotencyHeaders, request.headers, "headers");
    const body = parseInput(bodySchema, request.body, "body");
    // The fingerprint is of the body as it will be stored, so a retry that repeats a scope or
    // changes the email's case is the same request.
    const hash = requestHash({
      ...body,
      userEmail: body.userEmail?.toLowerCase(),
      scopes: normaliseScopes(body.scopes),
    });
    const result = await registerConnection(deps, { body, key, hash, now: new Date() });
    if (result.kind === "created") {
      const { id, userId, provider } = result.row;
      request.log.info(
        { connectionId: id, userId, provider, reactivated: result.reactivated },
        result.reactivated ? "revoked connection registered again" : "connection registered",
      );
    }
    return sendCreateResult(reply, result, body.userId);
  });
}

const providerAccount = (body: CreateBody): ProviderAccount => ({
  userId: body.userId,
  provider: body.provider,
  providerAccountId: body.providerAccountId ?? null,
});

/** The registration in one transaction; an account registered meanwhile by another request is a 409. */
async function registerConnection(
  deps: ConnectionRoutesDeps,
  registration: Registration,
): Promise<CreateResult> {
  try {
    return await deps.prisma.$transaction((tx) => register(tx, deps.cipher, registration));
  } catch (err) {
    // Two requests for the same provider account raced past the lookup; the loser gets the 409.
    if (uniqueViolation(err) !== ACCOUNT_UNIQUE) throw err;
    const winner = await findConnectionByAccount(deps.prisma, providerAccount(registration.body));
    return { kind: "exists", connectionId: winner?.id ?? "unknown" };
  }
}

async function register(
  tx: PrismaDb,
  cipher: TokenCipher,
  registration: Registration,
): Promise<CreateResult> {
  const { body, key, hash, now } = registration;
  if (key !== undefined) {
    const earlier = await earlierUseOfKey(tx, key, hash, now);
    if (earlier) return earlier;
  }

  const user = await ensureUser(tx, body.userId, body.userEmail);
  if (user.kind === "missing") return { kind: "user_missing" };
  if (user.kind === "email_taken") return { kind: "email_taken" };

  const account = providerAccount(body);
  const existing = await findConnectionByAccount(tx, account, { forUpdate: true });
  if (existing && existing.status !== "revoked") return { kind: "exists", connectionId: existing.id };

  const tokens = { accessToken: body.accessToken, refreshToken: body.refreshToken ?? null };
  const fields = {
    scopes: normaliseScopes(body.scopes),
    ...grantFields(tokens, resolveExpiry(body, now), cipher),
    ...NO_REFRESH_HISTORY,
  };
  const row = existing
    ? await updateConnection(tx, existing.id, fields)
    : await insertConnection(tx, { ...account, ...fields });
  if (key !== undefined) {
    await saveIdempotencyKey(tx, key, hash, row.id, now);
    // Keys expire after a day; sweeping on a small share of key-bearing creates keeps the table small.
    if (Math.random() < 0.01) await purgeExpiredIdempotencyKeys(tx, now);
  }
  return { kind: "created", row, reactivated: existing !== undefined };
}

/**
 * What an `Idempotency-Key` already used says: the same request is answered with the connection it
 * registered, another request is refused; undefined for a key not (or no longer) known. The key is
 * locked until the transaction ends, so retries racing each other register once.
 */
async function earlierUseOfKey(
  tx: PrismaDb,
  key: string,
  hash: string,
  now: Date,
): Promise<CreateResult | undefined> {
  await lockIdempotencyKey(tx, key);
  const prior = await findIdempotencyKey(tx, key, now);
  if (!prior) return undefined;
  if (prior.requestHash !== hash) return { kind: "key_reused" };
  // A replay answers the connection as it is now, revoked or updated since included: the key
  // stands for the registration already done, and a late retry must not register again.
  const row = await findConnection(tx, prior.connectionId);
  return row && { kind: "replayed", row };
}

function sendCreateResult(reply: FastifyReply, result: CreateResult, userId: string): FastifyReply {
  switch (result.kind) {
    case "created":
      return reply.code(201).send(toConnectionView(result.row));
    case "replayed":
      return reply.code(201).header("idempotent-replayed", "true").send(toConnectionView(result.row));
    case "key_reused":
      return sendError(reply, 422, {
        error: "idempotency_key_reused",
        message: "this Idempotency-Key was used with a different request",
      });
    case "exists":
      return sendError(reply, 409, {
        error: "connection_exists",
        message: `this provider account already has connection ${result.connectionId}; update it with PUT /connections/${result.connectionId}`,
        connectionId: result.connectionId,
      });
    case "user_missing":
      return sendError(reply, 400, {
        error: "bad_request",
        message: "request is invalid",
        details: [{ path: "body.userEmail", message: `required: no user ${userId} exists yet` }],
      });
    case "email_taken":
      return sendError(reply, 409, {
        error: "email_taken",
        message: `no user ${userId} exists and the email belongs to another user`,
      });
  }
}
