import type { z } from "zod";

export type ConfigIssue = { variable: string; message: string };

/** Invalid configuration: one line per problem, `NAME: what is wrong (expected form)`. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(issues.map((issue) => `${issue.variable}: ${issue.message}`).join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
  }
}

const SECRET_NAME = /SECRET|KEY|TOKEN|PASSWORD/i;

/** Hides `user:password@` in anything URL-like, so a malformed DATABASE_URL is never echoed whole. */
export function maskCredentials(text: string): string {
  return text.replace(/(\/\/[^/\s:@]*:)[^@\s]*@/g, "$1***@");
}

function shownValue(variable: string, value: string): string {
  if (SECRET_NAME.test(variable)) return "the value (hidden)";
  const clipped = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return JSON.stringify(maskCredentials(clipped));
}

type Described = { description?: string; _zod?: { def?: { innerType?: unknown; in?: unknown } } };

/** The `.describe()` text of a field, looking through `.default()` / `.optional()` wrappers. */
function describeField(schema: unknown): string | undefined {
  let current = schema as Described | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current.description) return current.description;
    current = (current._zod?.def?.innerType ?? current._zod?.def?.in) as Described | undefined;
  }
  return undefined;
}

/** Empty variables count as unset (`HTTP_PORT=` in an env file means "use the default"). */
function normalise(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(env)) out[name] = value === "" ? undefined : value;
  return out;
}

/**
 * Validates the environment against a service's schema. Throws ConfigError naming every invalid
 * variable at once, so one start-up attempt shows everything to fix.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.output<S> {
  const input = normalise(env);
  const result = schema.safeParse(input);
  if (result.success) return result.data;

  const shape = schema.shape as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const issue of result.error.issues) {
    if (issue.path.length === 0) {
      // A cross-field rule of the schema (`.superRefine` on the object).
      issues.push({ variable: "(configuration)", message: issue.message });
      continue;
    }
    const variable = String(issue.path[0]);
    if (seen.has(variable)) continue;
    seen.add(variable);
    const description = describeField(shape[variable]);
    const value = input[variable];
    // Our field builders phrase messages as the end of a sentence ("is not a valid port");
    // zod's built-in messages do not, so those become "is not valid" plus the expected form.
    const ownMessage = /^(is|has|may|must|lists) /.test(issue.message);
    let message: string;
    if (value === undefined) message = "required";
    else if (ownMessage) message = `${shownValue(variable, value)} ${issue.message}`;
    else message = `${shownValue(variable, value)} is not valid`;
    const expected = description ?? (ownMessage || value === undefined ? undefined : issue.message);
    issues.push({ variable, message: expected ? `${message} (${expected})` : message });
  }
  throw new ConfigError(issues);
}

export function formatConfigError(err: unknown): string {
  if (err instanceof ConfigError) {
    return `Invalid configuration (${err.issues.length} problem${err.issues.length === 1 ? "" : "s"}):\n${err.issues
      .map((issue) => `  ${issue.variable}: ${issue.message}`)
      .join("\n")}\n`;
  }
  return `${err instanceof Error ? err.message : String(err)}\n`;
}

/**
 * For a service's start-up: prints a ConfigError to stderr and exits 1 (no stack trace — the
 * message is the whole story). Any other error is rethrown.
 */
export function exitOnConfigError(err: unknown): never {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(formatConfigError(err));
  process.exit(1);
}
