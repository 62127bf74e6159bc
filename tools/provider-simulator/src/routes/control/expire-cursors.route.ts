import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { type DataPlatform, dataPlatforms } from "../../data/dataset.ts";
import { resourceSpecs } from "../../data/index.ts";
import { dataTargetFields, requireTarget, requireTargetMessage, resolveAccounts } from "./data-target.ts";
import { parseOrReply } from "./validation.ts";

export const expireCursorsBody = z
  .strictObject({
    ...dataTargetFields,
    /** `gmail`, `calendar`, or a resource of theirs (`gmail.history`, `calendar.events`); default both. */
    resource: z
      .string()
      .regex(/^(gmail|calendar)(\.[a-z][a-z0-9_-]*)?$/, "gmail, calendar or one of their resources")
      .optional(),
  })
  .refine(requireTarget, requireTargetMessage);

export type ExpireCursorsBody = z.input<typeof expireCursorsBody>;
export type ExpireCursorsResult = { expired: string[] };

/**
 * `POST /_control/data/expire-cursors` — the platform forgets the connection's sync history:
 * Gmail `history.list` with any history id handed out so far answers 404, Calendar with any sync
 * token so far answers 410 `fullSyncRequired`. A fresh full sync gets cursors that work again.
 */
export function expireCursorsRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.post("/_control/data/expire-cursors", async (request, reply) => {
    const body = parseOrReply(expireCursorsBody, request.body, reply);
    if (body === null) return reply;
    const platform = body.resource?.split(".")[0] as DataPlatform | undefined;
    const specs = [...resourceSpecs.values()].filter(
      (spec) => spec.expirable && (platform === undefined || spec.platform === platform),
    );
    const platforms =
      platform === undefined ? dataPlatforms.filter((p) => specs.some((s) => s.platform === p)) : [platform];
    const accounts = resolveAccounts(state, body, platforms, reply, { single: false });
    if (accounts === null) return reply;
    const expired: string[] = [];
    for (const account of accounts) {
      for (const spec of specs) {
        state.data.expireCursors(account, spec);
        expired.push(spec.name);
      }
    }
    const answer: ExpireCursorsResult = { expired };
    return answer;
  });
}
