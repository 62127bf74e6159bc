import type { ErrorDetail } from "@syncwell/runtime";
import type { z } from "zod";
import { MAX_BULK_ITEMS } from "./http.ts";

/**
 * One item's outcome in a bulk upsert, at its index in the request: `created`, `updated`,
 * `unchanged` (the stored row already held these values), or `error` with its located details.
 * Valid items are applied even when others are not.
 */
export type BulkItemResult =
  | { index: number; status: "created" | "updated" | "unchanged"; id: string; externalId: string }
  | { index: number; status: "error"; externalId: string | null; error: string; details: ErrorDetail[] };

export type BulkResponse = {
  results: BulkItemResult[];
  counts: Record<"created" | "updated" | "unchanged" | "error", number>;
};

/** The body's shape before its items are read one by one: an `items` array. */
export type BulkEnvelope = { items: unknown[] };

export function isBulkEnvelope(body: unknown): body is BulkEnvelope {
  return typeof body === "object" && body !== null && Array.isArray((body as { items?: unknown }).items);
}

export { MAX_BULK_ITEMS };

/** An item refused by its schema: every issue located under `body.items.<index>`. */
export function invalidItem(index: number, item: unknown, error: z.ZodError): BulkItemResult {
  return {
    index,
    status: "error",
    externalId: externalIdOf(item),
    error: "bad_request",
    details: error.issues.flatMap((issue) => {
      const path = ["body", "items", index, ...issue.path].map(String).join(".");
      // As the runtime answers a body: each unknown member located, its name bounded, never the message quoting them.
      if (issue.code === "unrecognized_keys")
        return issue.keys.map((key) => ({
          path: `${path}.${key.slice(0, 64)}`,
          message: "is not a known field",
        }));
      return [{ path, message: issue.message }];
    }),
  };
}

/** The item's external id when it is a plausible one, for the caller to match results by. */
function externalIdOf(item: unknown): string | null {
  const value = (item as { externalId?: unknown } | null)?.externalId;
  return typeof value === "string" && value.length <= 255 ? value : null;
}

export function itemError(
  index: number,
  externalId: string,
  error: string,
  detail: ErrorDetail,
): BulkItemResult {
  return { index, status: "error", externalId, error, details: [detail] };
}

export function bulkResponse(results: BulkItemResult[]): BulkResponse {
  const counts = { created: 0, updated: 0, unchanged: 0, error: 0 };
  for (const result of results) counts[result.status] += 1;
  return { results: results.sort((a, b) => a.index - b.index), counts };
}
