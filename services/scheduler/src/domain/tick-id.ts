import { createHash } from "node:crypto";

/**
 * The architecture names a tick's JetStream message id `<schedule>@<slot ISO>`. The bus publishes
 * with `Nats-Msg-Id` = event id and the envelope requires that id to be a UUID, so the tick's event
 * id is the UUIDv5 (RFC 9562 §5.5, SHA-1 name-based) of that key in the namespace below: a pure
 * function of schedule and slot. Every replica computes the same id for the same slot, so the
 * stream's duplicate window drops copies just as it would with the literal key, and anyone can
 * recompute the id from the key with any UUID library (`uuidv5(key, TICK_ID_NAMESPACE)`).
 * Beyond the duplicate window, the unique (schedule, slot) of job_runs keeps a slot to one tick.
 */
export const TICK_ID_NAMESPACE = "502dd969-9e18-4383-b0c5-845fd7c92644";

/** `<schedule>@<slot ISO>`, e.g. `token-refresh@2026-11-21T10:05:00.000Z`. */
export function tickKey(schedule: string, slot: Date): string {
  return `${schedule}@${slot.toISOString()}`;
}

/** The tick's event id (and so its Nats-Msg-Id): UUIDv5 of `tickKey(schedule, slot)`. */
export function tickEventId(schedule: string, slot: Date): string {
  return uuidv5(tickKey(schedule, slot), TICK_ID_NAMESPACE);
}

export function uuidv5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replaceAll("-", ""), "hex");
  if (ns.length !== 16) throw new TypeError(`namespace "${namespace}" is not a UUID`);
  const hash = createHash("sha1").update(ns).update(name, "utf8").digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
