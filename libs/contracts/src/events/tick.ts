import { z } from "zod";
import { defineEvent } from "../define-event.ts";

export const scheduleName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]*$/, "lowercase letters, digits and dashes")
  .describe("Schedule name, e.g. token-refresh");

export const tick = defineEvent({
  type: "tick",
  version: 1,
  description:
    "A schedule slot fired. Published by the scheduler on tick.<schedule> with message id <schedule>@<slot>.",
  subjectPattern: "tick.*",
  subject: (data) => `tick.${data.schedule}`,
  data: z
    .object({
      schedule: scheduleName,
      slot: z.iso.datetime({ offset: true }).describe("The cron slot this tick stands for (ISO 8601)"),
      catchUp: z.boolean().describe("True when fired late for a slot missed during downtime"),
      manual: z.boolean().default(false).describe("True when triggered by an operator"),
      jobRunId: z.uuid().describe("Job run row that services report their counts to"),
    })
    .strict(),
  examples: [
    {
      id: "01a1fd90-fcec-7000-8000-000000000001",
      type: "tick",
      version: 1,
      occurredAt: "2026-11-21T10:05:00.012Z",
      source: "scheduler",
      data: {
        schedule: "token-refresh",
        slot: "2026-11-21T10:05:00.000Z",
        catchUp: false,
        manual: false,
        jobRunId: "01a1fd90-fcea-7000-8000-0000000000a1",
      },
    },
  ],
});
