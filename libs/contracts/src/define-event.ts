import { z } from "zod";
import { envelopeSchema } from "./envelope.ts";

/**
 * One entry of the event catalog: everything an operator or a service needs to know about an
 * event type. Subjects are relative (no deployment prefix); the bus adds the prefix.
 */
export type EventDefinition<TType extends string, TData extends z.ZodType> = {
  type: TType;
  version: number;
  description: string;
  /** Subject pattern the event is published under, e.g. `tick.*` or `token.refreshed`. */
  subjectPattern: string;
  /** Concrete subject for one event (ticks put the schedule name in the subject). */
  subject: (data: z.output<TData>) => string;
  data: TData;
  /** The full envelope schema for this type: envelope fields plus typed `data`. */
  envelope: z.ZodType<{
    id: string;
    type: TType;
    version: number;
    occurredAt: string;
    source: string;
    data: z.output<TData>;
  }>;
  examples: ReadonlyArray<{
    id: string;
    type: TType;
    version: number;
    occurredAt: string;
    source: string;
    data: z.input<TData>;
  }>;
};

export function defineEvent<TType extends string, TData extends z.ZodType>(def: {
  type: TType;
  version: number;
  description: string;
  subjectPattern: string;
  subject?: (data: z.output<TData>) => string;
  data: TData;
  examples: EventDefinition<TType, TData>["examples"];
}): EventDefinition<TType, TData> {
  if (!def.subject && /(^|\.)[*>](\.|$)/.test(def.subjectPattern)) {
    throw new Error(
      `${def.type}: subject pattern ${def.subjectPattern} has wildcards, so it needs a subject function`,
    );
  }
  const envelope = envelopeSchema
    .extend({
      type: z.literal(def.type).describe("Event type"),
      version: z
        .literal(def.version)
        .describe(`Schema version of \`data\` (this schema describes version ${def.version})`),
      data: def.data.description ? def.data : def.data.describe(`Payload of ${def.type} v${def.version}`),
    })
    .strict()
    .describe(def.description) as unknown as EventDefinition<TType, TData>["envelope"];
  return {
    ...def,
    subject: def.subject ?? (() => def.subjectPattern),
    envelope,
  };
}
