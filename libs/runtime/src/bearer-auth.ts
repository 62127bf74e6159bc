import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

function matchesAny(actual: Buffer, expected: readonly Buffer[]): boolean {
  let matched = false;
  for (const candidate of expected) matched = timingSafeEqual(actual, candidate) || matched;
  return matched;
}

/**
 * An onRequest hook that lets a request through only with `Authorization: Bearer <secret>`.
 * Both sides are hashed first, so timingSafeEqual compares equal-length digests and the time taken
 * says nothing about the secret, not even its length. A 401 carries `WWW-Authenticate: Bearer`
 * (RFC 6750), with `error="invalid_token"` when a token was sent but is wrong.
 * Several secrets may be valid at once (a key being rotated in beside the one it replaces); each
 * is compared, so the time taken does not say which one matched either.
 */
export function bearerAuth(secret: string | readonly string[], options: { realm: string }) {
  const expected = (typeof secret === "string" ? [secret] : secret).map(digest);
  const challenge = `Bearer realm="${options.realm}"`;
  return async function requireBearer(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    const header = request.headers.authorization ?? "";
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    const token = match?.[1];
    if (token !== undefined && matchesAny(digest(token), expected)) return undefined;
    // Returning the reply tells Fastify the hook answered and the handler must not run.
    return reply
      .code(401)
      .header("WWW-Authenticate", token === undefined ? challenge : `${challenge}, error="invalid_token"`)
      .send({
        error: "unauthorized",
        message: token === undefined ? "a bearer token is required" : "the bearer token is not valid",
      });
  };
}
