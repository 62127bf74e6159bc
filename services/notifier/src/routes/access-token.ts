import type { FastifyReply, FastifyRequest } from "fastify";
import {
  type CryptoKey,
  decodeProtectedHeader,
  errors,
  importJWK,
  type JWTVerifyOptions,
  jwtVerify,
} from "jose";
import { z } from "zod";
import type { AccessKey } from "../domain/access-keys.ts";

/** How the API checks a bearer token's claims besides its signature. */
export type AccessTokenSettings = {
  keys: readonly AccessKey[];
  audience: string;
  /** Unset: any issuer. */
  issuer?: string;
};

/** A key ready to verify with, bound to its one algorithm. */
type VerifyKey = { kid: string; alg: string; key: CryptoKey | Uint8Array };

/** Clocks of the token's issuer and ours may differ by this much (exp, nbf). */
const CLOCK_TOLERANCE_S = 5;

const userId = z.uuid();

/** Why a token was refused: the 401's message, which never quotes the token. */
export class AccessTokenError extends Error {}

/** The configured keys, imported once. */
async function importKeys(keys: readonly AccessKey[]): Promise<VerifyKey[]> {
  return Promise.all(
    keys.map(async (k) => ({
      kid: k.kid,
      alg: k.alg,
      key: k.alg === "HS256" ? k.secret : ((await importJWK(k.jwk, k.alg)) as CryptoKey),
    })),
  );
}

/** jose's refusals in words for the caller: which check failed, never what the token held. */
function refusal(err: unknown): AccessTokenError {
  if (err instanceof AccessTokenError) return err;
  if (err instanceof errors.JWTExpired) return new AccessTokenError("the bearer token has expired");
  if (err instanceof errors.JWTClaimValidationFailed) {
    return new AccessTokenError(`the bearer token's ${err.claim} claim is not accepted (${err.reason})`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new AccessTokenError("the bearer token's signature is not valid");
  }
  return new AccessTokenError("the bearer token is not a valid signed JWT");
}

/**
 * Verifies bearer tokens: a compact JWS whose header's `alg` is the algorithm of a configured key
 * (never `none`, never a public key used as a secret), signed by the key its `kid` names (a token
 * without `kid` is tried against every key of its algorithm), with the audience, an expiry
 * (required) not past, the issuer when configured, and a user id as `sub`. Resolves to the user id.
 */
export async function accessTokenVerifier(
  settings: AccessTokenSettings,
): Promise<(token: string) => Promise<string>> {
  const keys = await importKeys(settings.keys);
  const claims: JWTVerifyOptions = {
    audience: settings.audience,
    ...(settings.issuer !== undefined && { issuer: settings.issuer }),
    requiredClaims: ["exp", "sub"],
    clockTolerance: CLOCK_TOLERANCE_S,
  };
  return async (token) => {
    try {
      const { alg, kid } = decodeProtectedHeader(token);
      const candidates = keys.filter((k) => k.alg === alg && (kid === undefined || k.kid === kid));
      if (candidates.length === 0) {
        throw new AccessTokenError("the bearer token is not signed with a key this service accepts");
      }
      let failure: unknown;
      for (const candidate of candidates) {
        try {
          const { payload } = await jwtVerify(token, candidate.key, {
            ...claims,
            algorithms: [candidate.alg],
          });
          const sub = userId.safeParse(payload.sub);
          if (!sub.success) throw new AccessTokenError("the bearer token's sub is not a user id");
          return sub.data;
        } catch (err) {
          // Another key of the same algorithm may have signed it; any other refusal is final.
          if (!(err instanceof errors.JWSSignatureVerificationFailed)) throw err;
          failure = err;
        }
      }
      throw failure;
    } catch (err) {
      throw refusal(err);
    }
  };
}

const users = new WeakMap<FastifyRequest, string>();

/** The user the request's token names; set by `requireUser` before any handler runs. */
export function userOf(request: FastifyRequest): string {
  const user = users.get(request);
  if (user === undefined) throw new Error("userOf called on a route without requireUser");
  return user;
}

const CHALLENGE = 'Bearer realm="notifier"';

/**
 * An onRequest hook: `Authorization: Bearer <jwt>` verified, or a 401 in the error format with
 * `WWW-Authenticate` (RFC 6750) saying which check failed.
 */
export function requireUser(verify: (token: string) => Promise<string>) {
  return async function requireUserHook(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(request.headers.authorization ?? "");
    const token = match?.[1];
    if (token === undefined) {
      return reply
        .code(401)
        .header("WWW-Authenticate", CHALLENGE)
        .send({ error: "unauthorized", message: "a bearer token is required" });
    }
    try {
      users.set(request, await verify(token));
      return undefined;
    } catch (err) {
      const message = refusal(err).message;
      return reply
        .code(401)
        .header(
          "WWW-Authenticate",
          `${CHALLENGE}, error="invalid_token", error_description="${message.replaceAll('"', "'")}"`,
        )
        .send({ error: "unauthorized", message });
    }
  };
}
