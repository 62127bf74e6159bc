import type { FastifyReply } from "fastify";
import { z } from "zod";
import type { Account } from "../../data/account.ts";
import type { DataPlatform } from "../../data/dataset.ts";
import { platformProviders } from "../../data/dataset.ts";
import { type ProviderId, providerIds } from "../../providers.ts";
import type { SimulatorState } from "../../state.ts";

/** Which connection's data a control call changes: by connection key or grant id. */
export const dataTargetFields = {
  connectionKey: z.string().min(1).optional(),
  grantId: z.string().min(1).optional(),
  /** Only needed when a connection key has grants of two providers serving the platform (github, github-app). */
  provider: z.enum(providerIds).optional(),
};

export type DataTarget = {
  connectionKey?: string | undefined;
  grantId?: string | undefined;
  provider?: ProviderId | undefined;
};

export const requireTarget = (target: DataTarget): boolean =>
  target.connectionKey !== undefined || target.grantId !== undefined;
export const requireTargetMessage = {
  message: "connectionKey or grantId is required",
  path: ["connectionKey"],
};

/**
 * The accounts behind a target, one per provider that serves one of `platforms`; answers 404 (no
 * such grant) or 400 (ambiguous) itself and returns null then.
 */
export function resolveAccounts(
  state: SimulatorState,
  target: DataTarget,
  platforms: readonly DataPlatform[],
  reply: FastifyReply,
  options: { single: boolean },
): Account[] | null {
  const serving = new Set(platforms.flatMap((platform) => platformProviders[platform]));
  const grants = state
    .listGrants({ grantId: target.grantId, connectionKey: target.connectionKey, provider: target.provider })
    .filter((grant) => serving.has(grant.provider));
  const seen = new Map<string, Account>();
  for (const grant of grants) {
    const key = `${grant.provider}\u0000${grant.connectionKey}`;
    if (!seen.has(key)) seen.set(key, state.data.account(grant.provider, grant.connectionKey));
  }
  const who =
    target.grantId !== undefined ? `grant ${target.grantId}` : `connectionKey ${target.connectionKey}`;
  if (seen.size === 0) {
    void reply.code(404).send({
      error: "not_found",
      message: `no ${[...serving].join("/")} grant for ${who}`,
    });
    return null;
  }
  if (options.single && seen.size > 1) {
    void reply.code(400).send({
      error: "ambiguous",
      message: `${who} has grants of ${[...seen.values()].map((a) => a.provider).join(" and ")}; pass provider`,
    });
    return null;
  }
  return [...seen.values()];
}
