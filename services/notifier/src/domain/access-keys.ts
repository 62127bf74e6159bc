/**
 * The keys that sign the bearer tokens of the in-app API, as configuration gives them: shared
 * HS256 secrets (`NOTIFY_JWT_KEYS`) and public keys (`NOTIFY_JWT_PUBLIC_KEYS`, a JSON Web Key
 * Set). Each key names its `kid` and is bound to one algorithm, so a token is verified only with
 * a key of the algorithm its header names, and a public key is never used as an HMAC secret (the
 * "algorithm confusion" attack). Parsing only; the API imports and uses them.
 */

/** Algorithms of public keys, each with the JWK key type it needs. */
export const PUBLIC_KEY_ALGORITHMS = { RS256: "RSA", PS256: "RSA", ES256: "EC", EdDSA: "OKP" } as const;

export type PublicKeyAlgorithm = keyof typeof PUBLIC_KEY_ALGORITHMS;

export type AccessKey =
  | { kid: string; alg: "HS256"; secret: Uint8Array }
  | { kid: string; alg: PublicKeyAlgorithm; jwk: Record<string, unknown> };

/** An HS256 secret shorter than the hash's output would weaken it (RFC 7518 section 3.2). */
export const MIN_SECRET_BYTES = 32;

const KID = /^[A-Za-z0-9._-]{1,64}$/;

/** Members of a JWK that only a private key has. */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/** Problems read as the end of "NAME: the value (hidden) …": each starts with "has" or "is". */
export type Parsed = { keys: AccessKey[]; problems: string[] };

/**
 * `kid:secret` entries, comma-separated, each secret at least 32 bytes. Problems name the entry
 * by its position, never by its text.
 */
export function parseSharedSecrets(raw: string): Parsed {
  const entries = raw.split(",").map((entry) => entry.trim());
  const keys: AccessKey[] = [];
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    const at = `entry ${index + 1} of ${entries.length}`;
    const colon = entry.indexOf(":");
    const kid = colon > 0 ? entry.slice(0, colon) : "";
    const secret = new TextEncoder().encode(colon > 0 ? entry.slice(colon + 1) : "");
    if (!KID.test(kid))
      problems.push(`has ${at} that is not kid:secret with a kid of 1-64 letters, digits, . _ -`);
    else if (secret.length < MIN_SECRET_BYTES)
      problems.push(`has ${at} with a secret shorter than ${MIN_SECRET_BYTES} bytes`);
    else keys.push({ kid, alg: "HS256", secret });
  });
  return { keys, problems: [...problems, ...duplicateKids(keys)] };
}

/** One JWK of the set: a public key with its kid and an algorithm of PUBLIC_KEY_ALGORITHMS. */
function publicKey(jwk: unknown, at: string): AccessKey | string {
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) return `has ${at} that is not an object`;
  const member = jwk as Record<string, unknown>;
  const { kid, alg, kty } = member;
  if (typeof kid !== "string" || !KID.test(kid))
    return `has ${at} without a kid of 1-64 letters, digits, . _ -`;
  if (typeof alg !== "string" || !Object.hasOwn(PUBLIC_KEY_ALGORITHMS, alg)) {
    return `has ${at} (kid ${kid}) without an alg among ${Object.keys(PUBLIC_KEY_ALGORITHMS).join(", ")}`;
  }
  const algorithm = alg as PublicKeyAlgorithm;
  if (kty !== PUBLIC_KEY_ALGORITHMS[algorithm]) return `has ${at} (kid ${kid}) that is not a ${alg} key`;
  if (PRIVATE_MEMBERS.some((name) => name in member))
    return `has ${at} (kid ${kid}) that is not a public key`;
  if (member.use !== undefined && member.use !== "sig")
    return `has ${at} (kid ${kid}) that is not for signatures`;
  return { kid, alg: algorithm, jwk: member };
}

/** A JSON Web Key Set (`{"keys": [...]}`) of public keys. */
export function parsePublicKeys(raw: string): Parsed {
  let set: unknown;
  try {
    set = JSON.parse(raw);
  } catch {
    return { keys: [], problems: ['is not JSON (a JSON Web Key Set: {"keys": [...]})'] };
  }
  const members = (set as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(members) || members.length === 0) {
    return { keys: [], problems: ['is not a JSON Web Key Set with keys ({"keys": [...]})'] };
  }
  const keys: AccessKey[] = [];
  const problems: string[] = [];
  members.forEach((jwk, index) => {
    const key = publicKey(jwk, `key ${index + 1} of ${members.length}`);
    if (typeof key === "string") problems.push(key);
    else keys.push(key);
  });
  return { keys, problems: [...problems, ...duplicateKids(keys)] };
}

export function duplicateKids(keys: readonly AccessKey[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const { kid } of keys) (seen.has(kid) ? twice : seen).add(kid);
  return [...twice].map((kid) => `has kid ${kid} more than once`);
}
