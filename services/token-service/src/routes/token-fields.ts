import type { TokenCipher } from "@syncwell/credentials";
import { z } from "zod";
import {
  type ConnectionPatch,
  type ConnectionTokens,
  healthyState,
  sealTokens,
} from "../repositories/connections.repository.ts";

/** What the create and update routes share: their bodies' fields, and what a new grant writes. */

const TEN_YEARS_S = 10 * 365 * 24 * 60 * 60;

/** An OAuth token as the provider issued it; bounded so a stray payload cannot bloat a row. */
export const tokenField = z.string().min(1).max(8192);

export const scopesField = z.array(z.string().min(1).max(512)).max(500);

export const expiresAtField = z.iso.datetime({ offset: true });

/** Seconds from now, as in an OAuth token response's `expires_in`. */
export const expiresInField = z.int().positive().max(TEN_YEARS_S);

/** `expiresAt` and `expiresIn` are two ways to say one thing: a body gives at most one of them. */
export const atMostOneExpiry = z.refine<{ expiresAt?: unknown; expiresIn?: unknown }>(
  (body) => body.expiresAt === undefined || body.expiresIn === undefined,
  { path: ["expiresIn"], message: "give expiresAt or expiresIn, not both" },
);

export type Expiry = { accessTokenExpiresAt: Date | null; tokenExpiresNever: boolean };

/** Neither field means the provider issued a token that never expires. */
export function resolveExpiry(
  input: { expiresAt?: string | null | undefined; expiresIn?: number | undefined },
  now: Date,
): Expiry {
  if (input.expiresIn !== undefined) {
    return {
      accessTokenExpiresAt: new Date(now.getTime() + input.expiresIn * 1000),
      tokenExpiresNever: false,
    };
  }
  if (typeof input.expiresAt === "string") {
    return { accessTokenExpiresAt: new Date(input.expiresAt), tokenExpiresNever: false };
  }
  return { accessTokenExpiresAt: null, tokenExpiresNever: true };
}

/** Scopes in the order given, without repeats. */
export function normaliseScopes(scopes: readonly string[]): string[] {
  return [...new Set(scopes)];
}

/**
 * What tokens newly issued by the provider write (a registration, or the user granting access
 * again): both tokens sealed under the current key, the new access token's expiry when it has one
 * to set, and the connection healthy again.
 */
export function grantFields(
  tokens: ConnectionTokens,
  expiry: Expiry | undefined,
  cipher: TokenCipher,
): ConnectionPatch {
  return { ...healthyState, ...sealTokens(tokens, cipher), ...expiry };
}
