import { uuidv7 } from "@syncwell/contracts";
import { ColumnsText, joinFlat, quoted } from "@syncwell/db";
import type { PageWrite } from "../records.repository.ts";
import type { PageStatementShape } from "./statement.ts";

/**
 * Separates the payloads of a batch, sent as one text: JSON text never holds a raw control
 * character (inside strings they are escaped, and outside them only spaces, tabs and newlines may
 * appear). A payload that did hold one would shift every later payload onto the wrong record, so
 * it is refused.
 */
export const PAYLOAD_SEPARATOR = "\u001e";

/**
 * The page statement's parameters:
 * - `$1` the pages, a JSON array (`pageJson`);
 * - `$2`–`$5` the records as columns: page, id, external id, occurred at (ms);
 * - `$6` their payloads, one text (`PAYLOAD_SEPARATOR` between them), null without records;
 * - `$7`–`$13` the communication candidates as columns, only in a shape with `comms`: page, id,
 *   external id, email, channel, direction, occurred at (ms).
 * Records and events go as columns (unnest of arrays) and the payloads as one text: a JSON array
 * of objects costs Postgres a jsonb tree of every record, with its keys sorted, before the columns
 * are taken out of it.
 */
export function pageStatementValues(writes: readonly PageWrite[], shape: PageStatementShape): unknown[] {
  const pages: string[] = [];
  const records = new ColumnsText(4);
  const payloads: string[] = [];
  const comms = new ColumnsText(7);
  writes.forEach((write, k) => {
    pages.push(pageJson(write, k));
    for (const r of write.records) {
      if (r.payloadJson.includes(PAYLOAD_SEPARATOR)) {
        throw new Error(`record ${r.externalId}: its payload text holds a raw U+001E, so it is not JSON`);
      }
      records.row(k, uuidv7(), quoted(r.externalId), r.occurredAt === null ? "NULL" : r.occurredAt.getTime());
      payloads.push(r.payloadJson);
    }
    for (const c of write.communications) {
      comms.row(
        k,
        c.id,
        quoted(c.externalId),
        quoted(c.email),
        c.channel,
        c.direction,
        c.occurredAt.getTime(),
      );
    }
  });
  return [
    joinFlat(pages, ",", "[", "]"),
    ...records.arrays(),
    // Null for a batch without records: string_to_array('') is an empty array, not one payload.
    payloads.length > 0 ? payloads.join(PAYLOAD_SEPARATOR) : null,
    ...(shape.comms ? comms.arrays() : []),
  ];
}

/** One element of `$1`: the page `k` of the batch, as the `pages` CTE reads it. */
export function pageJson(write: PageWrite, k: number): string {
  const event = write.done?.event;
  return (
    JSON.stringify({
      k,
      connection_id: write.ref.connectionId,
      platform: write.ref.platform,
      resource: write.ref.resource,
      claim: write.claimToken,
      user_id: write.userId,
      final: write.done !== null,
      full_listing: write.fullListing,
      poll_started_at: write.pollStartedAt.toISOString(),
      page_token: write.next?.pageToken ?? null,
      lease_ms: write.next?.leaseMs ?? null,
      cursor: write.done?.cursor ?? null,
      next_poll_ms: write.done?.nextPollInMs ?? null,
      before: write.before,
      skipped: write.skipped,
      event_id: event?.id ?? null,
      subject: event?.subject ?? null,
      type: event?.type ?? null,
    }).slice(0, -1) + // the event's payload and trace are JSON already: spliced in, not re-encoded
    `,"payload":${event?.payload ?? "null"},"trace":${event?.traceHeaders ?? "null"}}`
  );
}
