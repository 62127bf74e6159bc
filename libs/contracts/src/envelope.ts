import { z } from "zod";
import { isoDateTime } from "./fields.ts";

/**
 * The envelope every Syncwell event travels in. `id` doubles as the JetStream `Nats-Msg-Id`,
 * so publishing the same event twice inside the stream's duplicate window stores it once.
 */
export const envelopeSchema = z
  .object({
    id: z.uuid().describe("Unique event id (UUID, v7 preferred); also the JetStream Nats-Msg-Id"),
    type: z.string().min(1).describe("Event type, e.g. token.refreshed"),
    version: z.int().positive().describe("Schema version of `data` for this type"),
    occurredAt: isoDateTime.describe("When the fact happened (ISO 8601 with offset)"),
    source: z.string().min(1).describe("Service or tool that produced the event"),
    data: z
      .unknown()
      // Without this, zod reports a missing payload as "expected nonoptional".
      .nonoptional("Invalid input: expected the event payload, received undefined")
      .describe("The payload; its shape depends on `type` and `version`"),
  })
  .strict();

export type Envelope<TType extends string = string, TData = unknown> = {
  id: string;
  type: TType;
  version: number;
  occurredAt: string;
  source: string;
  data: TData;
};
