import type { z } from "zod";
import { type AnyEvent, catalog, isEventType } from "./catalog.ts";
import { envelopeSchema } from "./envelope.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

export type ValidationResult = { ok: true; event: AnyEvent } | { ok: false; error: string };

/** Readable one-line summary of a zod error: `data.expiresAt: Invalid ISO datetime; id: Invalid UUID`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map(
      (issue) => `${issue.path.length > 0 ? issue.path.map(String).join(".") : "(root)"}: ${issue.message}`,
    )
    .join("; ");
}

/**
 * Validates anything claiming to be an event: JSON text or bytes, or an already parsed value.
 * Never throws; the error says what is wrong in terms an operator publishing by hand understands.
 */
export function validateEvent(input: unknown): ValidationResult {
  let value = input;
  if (input instanceof Uint8Array) {
    try {
      value = utf8.decode(input);
    } catch {
      return { ok: false, error: "payload is not UTF-8 text (expected a JSON event)" };
    }
  }
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch (err) {
      return { ok: false, error: `payload is not JSON: ${(err as Error).message}` };
    }
  }
  // Fast path: a well-formed event of a known type and version is parsed once, by its own schema.
  // Anything else goes the slow way below, which explains what is wrong.
  if (typeof value === "object" && value !== null) {
    const { type, version } = value as { type?: unknown; version?: unknown };
    if (typeof type === "string" && isEventType(type) && version === catalog[type].version) {
      const fast = catalog[type].envelope.safeParse(value);
      if (fast.success) return { ok: true, event: fast.data as AnyEvent };
    }
  }
  const envelope = envelopeSchema.safeParse(value);
  if (!envelope.success) return { ok: false, error: `invalid envelope: ${formatIssues(envelope.error)}` };
  const { type, version } = envelope.data;
  if (!isEventType(type)) {
    return { ok: false, error: `unknown event type "${type}" (known: ${Object.keys(catalog).join(", ")})` };
  }
  const def = catalog[type];
  if (version !== def.version) {
    return { ok: false, error: `unsupported version ${version} of "${type}" (supported: ${def.version})` };
  }
  const parsed = def.envelope.safeParse(envelope.data);
  if (!parsed.success)
    return { ok: false, error: `invalid ${type} v${version}: ${formatIssues(parsed.error)}` };
  return { ok: true, event: parsed.data as AnyEvent };
}
