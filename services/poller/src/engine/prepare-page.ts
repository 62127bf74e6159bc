import type { Logger } from "@syncwell/telemetry";
import type { Page, RawRecordInput, SkippedItem } from "../adapters/connectors/connector.ts";
import { malformed } from "../adapters/connectors/errors.ts";
import { payloadJson } from "../domain/payload-json.ts";
import type { ClaimedSyncState } from "../repositories/poll-claims.repository.ts";
import type { PreparedRecord } from "../repositories/records.repository.ts";
import type { RunnerDeps } from "./poll-runner.ts";

const MAX_EXTERNAL_ID = 1_024;
/** Skipped items named in a page's log line; the count covers the rest. */
const SKIPPED_LOGGED = 20;

export type PreparedPage = {
  records: PreparedRecord[];
  skipped: SkippedItem[];
  communications: Map<
    string,
    { communication: NonNullable<RawRecordInput["communication"]>; occurredAt: Date | null }
  >;
};

/**
 * Checks a page's records against the connector contract and prepares them for storage: payload
 * as JSON text, one record per external id (the last one wins). A record that breaks the
 * contract makes the page malformed: the poll fails with the reason, nothing of the page is stored.
 */
export function preparePage(page: Page): PreparedPage {
  if (typeof page !== "object" || page === null || !Array.isArray(page.records)) {
    throw malformed("page", "the connector returned no records array");
  }
  const byId = new Map<string, PreparedRecord>();
  const communications: PreparedPage["communications"] = new Map();
  page.records.forEach((record, i) => {
    const id = record?.externalId;
    if (typeof id !== "string" || id.length === 0 || id.length > MAX_EXTERNAL_ID) {
      throw malformed("record", `record ${i} has no usable externalId`);
    }
    // Postgres text cannot hold NUL: the page statement would fail for every page of its batch.
    if (id.includes("\u0000"))
      throw malformed("record", `record ${i} has an externalId holding a NUL character`);
    if (record.payload === undefined) throw malformed("record", `record ${id} has no payload`);
    let occurredAt: Date | null = null;
    if (record.occurredAt !== undefined) {
      if (!(record.occurredAt instanceof Date) || Number.isNaN(record.occurredAt.getTime())) {
        throw malformed("record", `record ${id} has an invalid occurredAt`);
      }
      occurredAt = record.occurredAt;
    }
    let json: string;
    try {
      json = payloadJson(record.payload);
    } catch (err) {
      throw malformed("record", `record ${id} has a payload that is not JSON: ${(err as Error).message}`);
    }
    byId.delete(id); // re-inserted last: Map order follows the latest occurrence
    byId.set(id, { externalId: id, payloadJson: json, occurredAt });
    const communication = record.communication;
    communications.delete(id);
    if (communication !== undefined) {
      if (
        (communication.channel !== "email" && communication.channel !== "meeting") ||
        !Array.isArray(communication.to) ||
        !communication.to.every((address) => typeof address === "string") ||
        (communication.from !== null && typeof communication.from !== "string")
      ) {
        throw malformed("record", `record ${id} has an invalid communication`);
      }
      communications.set(id, { communication, occurredAt });
    }
  });
  return { records: [...byId.values()], communications, skipped: checkSkipped(page.skipped) };
}

function checkSkipped(skipped: unknown): SkippedItem[] {
  if (skipped === undefined) return [];
  const valid =
    Array.isArray(skipped) &&
    skipped.every(
      (item: Partial<SkippedItem> | null) =>
        typeof item?.reason === "string" && (item.id === null || typeof item.id === "string"),
    );
  if (!valid) throw malformed("page", "the connector returned an invalid skipped list");
  return skipped;
}

/**
 * Counts a page's skipped items by reason and names them in one log line: ids and reasons only,
 * never an item's content (it may be a message's subject or a calendar's attendees).
 */
export function reportSkipped(
  deps: Pick<RunnerDeps, "metrics">,
  claim: Pick<ClaimedSyncState, "platform" | "resource">,
  skipped: SkippedItem[],
  log: Logger,
): void {
  const byReason = new Map<string, number>();
  for (const item of skipped) byReason.set(item.reason, (byReason.get(item.reason) ?? 0) + 1);
  for (const [reason, n] of byReason) {
    deps.metrics.itemsSkipped.inc({ platform: claim.platform, resource: claim.resource, reason }, n);
  }
  log.warn(
    { skipped: skipped.length, items: skipped.slice(0, SKIPPED_LOGGED) },
    "skipped items the connector cannot use; the rest of the page was stored",
  );
}
