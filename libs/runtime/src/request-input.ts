import { z } from "zod";

/** Where a value came from in a request; every 400 detail starts with one (`body.expiresAt`). */
export type InputLocation = "body" | "query" | "params" | "headers";

/** Members nested deeper than this are refused: no API here takes more than a few levels. */
export const MAX_INPUT_DEPTH = 32;

// Every code point of such a string is invisible or a separator: U+0020 and other spaces, C0/C1
// controls, format characters (bidi marks and embeddings, zero-width joiners, BOM) and the
// default-ignorable fillers (U+3164 …) that render as nothing.
// In a `u` regex a valid pair is one code point, so only a lone surrogate matches \p{Cs}.
const LONE_SURROGATE = /\p{Cs}/u;

const ONLY_INVISIBLE = /^[\p{White_Space}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]+$/u;

/**
 * Why a string from a request cannot be accepted, or undefined when it can. The same rule holds
 * for every string of every request, whatever the route's schema says:
 * - no NUL: Postgres text and jsonb cannot hold it (the insert fails with 22021, a 500);
 * - no lone surrogate: it cannot be encoded as UTF-8 and would be stored as U+FFFD, silently;
 * - not made only of spaces, control characters or bidi/zero-width marks: such a value is blank
 *   to every reader (an account id, a scope, a name), and bidi marks can make one value look like
 *   another. The empty string is left to the schemas (most say `min(1)`).
 */
export function textProblem(value: string): string | undefined {
  if (value.includes("\u0000")) return "must not contain a NUL character";
  if (LONE_SURROGATE.test(value)) return "must not contain a lone UTF-16 surrogate (not valid Unicode)";
  if (value.length > 0 && ONLY_INVISIBLE.test(value)) {
    return "must not be made only of spaces, control characters or invisible marks";
  }
  return undefined;
}

/** A member name is a key the API reads, never text it stores: only what cannot be stored is refused. */
function keyProblem(key: string): string | undefined {
  if (key.includes("\u0000")) return "has a member name with a NUL character";
  if (LONE_SURROGATE.test(key)) return "has a member name with a lone UTF-16 surrogate";
  return undefined;
}

export type InputProblem = { path: Array<string | number>; message: string };

/**
 * Every string in `value` (members and array items at any depth, and member names) checked with
 * `textProblem`. Iterative, so a hostile nesting depth cannot exhaust the stack; deeper than
 * `MAX_INPUT_DEPTH` is itself a problem. At most `limit` problems are reported.
 */
export function findInputProblems(value: unknown, root: Array<string | number>, limit = 20): InputProblem[] {
  const problems: InputProblem[] = [];
  const stack: Array<{ value: unknown; path: Array<string | number> }> = [{ value, path: root }];
  while (stack.length > 0 && problems.length < limit) {
    const item = stack.pop() as { value: unknown; path: Array<string | number> };
    if (typeof item.value === "string") {
      const message = textProblem(item.value);
      if (message) problems.push({ path: item.path, message });
      continue;
    }
    if (item.value === null || typeof item.value !== "object") continue;
    if (item.path.length - root.length >= MAX_INPUT_DEPTH) {
      problems.push({ path: item.path, message: `is nested more than ${MAX_INPUT_DEPTH} levels deep` });
      continue;
    }
    const entries: Array<[string | number, unknown]> = Array.isArray(item.value)
      ? item.value.map((member, index) => [index, member])
      : Object.entries(item.value);
    // Pushed in reverse so problems come out in document order.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, member] = entries[i] as [string | number, unknown];
      const message = typeof key === "string" ? keyProblem(key) : undefined;
      if (message) problems.push({ path: item.path, message });
      else stack.push({ value: member, path: [...item.path, key] });
    }
  }
  return problems;
}

/** A ZodError, which the runtime's error handler answers as a 400 listing each located field. */
export function inputError(problems: InputProblem[]): z.ZodError {
  return new z.ZodError(
    problems.map((p) => ({ code: "custom" as const, path: p.path, message: p.message, input: undefined })),
  );
}

/**
 * Parses one part of a request with a route's schema. A failure is thrown as a ZodError whose
 * paths start with the location (`body.expiresAt`), which the runtime's error handler turns into a
 * 400 listing each field and reason. Zod's messages do not quote the input, so a rejected token
 * never appears in a response. The runtime refuses hostile strings (`textProblem`) in params,
 * query and body before any handler runs; what the schema accepted is checked again here, which
 * covers headers (only those the schema keeps: others are not the route's business) and values a
 * schema decoded (a cursor).
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  location: InputLocation,
): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    throw new z.ZodError(result.error.issues.map((issue) => ({ ...issue, path: [location, ...issue.path] })));
  }
  const problems = findInputProblems(result.data, [location]);
  if (problems.length > 0) throw inputError(problems);
  return result.data;
}
