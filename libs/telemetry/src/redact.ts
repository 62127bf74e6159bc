/** Field names whose values never reach a log line, at any of the first levels of nesting. */
export const SECRET_KEYS: readonly string[] = [
  "token",
  "accessToken",
  "refreshToken",
  "idToken",
  "access_token",
  "refresh_token",
  "id_token",
  "password",
  "secret",
  "clientSecret",
  "client_secret",
  "apiKey",
  "api_key",
  "authorization",
  "Authorization",
  "cookie",
  "Cookie",
  "set-cookie",
  "key",
];

export const REDACTED = "[redacted]";

function pathFor(prefix: string, key: string): string {
  const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `["${key}"]`;
  return prefix ? `${prefix}${segment}` : segment.startsWith(".") ? segment.slice(1) : segment;
}

/**
 * pino `redact` paths: each secret key at the top level and under one to three levels of
 * objects or arrays (`*.accessToken`, `*.*.accessToken`, `*.*.*.accessToken`), which covers
 * `req.headers.authorization`, `headers.authorization` and `{ connection: { tokens: { … } } }`.
 */
export function redactPaths(keys: readonly string[] = SECRET_KEYS): string[] {
  const paths: string[] = [];
  for (const key of keys) {
    for (const prefix of ["", "*", "*.*", "*.*.*"]) paths.push(pathFor(prefix, key));
  }
  return paths;
}

const SECRET_PARAM =
  "access_token|refresh_token|id_token|client_secret|accessToken|refreshToken|idToken|clientSecret|password|api_key|apiKey|code_verifier";

const PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // Authorization header values quoted in free text.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi, `$1 ${REDACTED}`],
  // JSON: "access_token": "…"
  [new RegExp(`("(?:${SECRET_PARAM})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, "g"), `$1"${REDACTED}"`],
  // Form / query / key=value: access_token=…
  [new RegExp(`\\b((?:${SECRET_PARAM})\\s*=\\s*)[^\\s&"',;}]+`, "g"), `$1${REDACTED}`],
];

/**
 * Masks credentials in free text — an error message that quotes a provider's response body, a URL
 * with a token in its query. Field-level redaction in the logger cannot see inside such strings.
 */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}
