import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { resourceNames, resourceSpecs } from "../../data/index.ts";
import type { ProviderId } from "../../providers.ts";
import { dataTargetFields, requireTarget, requireTargetMessage, resolveAccounts } from "./data-target.ts";
import { parseOrReply } from "./validation.ts";

/** What the client sends; `items` follow the resource's own schema (see README). */
export type AddDataBody<Item = Record<string, unknown>> = {
  connectionKey?: string;
  grantId?: string;
  /** Only when a connection key has grants of two providers serving the platform (github, github-app). */
  provider?: ProviderId;
  /** Generated items to add (default 1 when `items` is absent, else 0). */
  count?: number;
  items?: Item[];
};

export type AddDataResult = {
  resource: string;
  provider: string;
  connectionKey: string;
  /** The new (or changed) items as the platform's API shows them. */
  items: unknown[];
  /** Items the resource holds now. */
  total: number;
};

/**
 * `POST /_control/data/:platform/:resource` — the platform got new data: appends items newer than
 * everything so far (new history ids, sync-token changes, later play times, larger snowflakes),
 * so an incremental sync picks up exactly these. An item whose `id` names an existing one changes
 * it where the platform allows changes (Calendar: `{"id": "…", "status": "cancelled"}`).
 */
export function addDataRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.post("/_control/data/:platform/:resource", async (request, reply) => {
    const params = request.params as { platform: string; resource: string };
    const name = `${params.platform}.${params.resource}`;
    const spec = resourceSpecs.get(name);
    if (spec === undefined) {
      return reply.code(404).send({
        error: "not_found",
        message: `unknown resource ${name}; one of ${resourceNames.join(", ")}`,
      });
    }
    const schema = z
      .strictObject({
        ...dataTargetFields,
        count: z.number().int().min(0).max(1000).optional(),
        items: z.array(spec.input).max(1000).optional(),
      })
      .refine(requireTarget, requireTargetMessage);
    const body = parseOrReply(schema, request.body, reply);
    if (body === null) return reply;
    const accounts = resolveAccounts(state, body, [spec.platform], reply, { single: true });
    if (accounts === null) return reply;
    const account = accounts[0];
    if (account === undefined) return reply;
    const items = (body.items ?? []) as Array<{ id?: string }>;
    const count = body.count ?? (body.items === undefined ? 1 : 0);
    const result = state.data.add(account, spec, items, count, state.now());
    if (!result.ok) return reply.code(result.status).send({ error: "conflict", message: result.message });
    const answer: AddDataResult = {
      resource: name,
      provider: account.provider,
      connectionKey: account.connectionKey,
      items: result.items.map((item) => spec.render(account, item)),
      total: state.data.dataset(account, spec).size,
    };
    return reply.code(201).send(answer);
  });
}
