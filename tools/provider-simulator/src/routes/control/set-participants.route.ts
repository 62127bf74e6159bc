import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { SimulatorContext } from "../../context.ts";
import { type Participant, parseParticipant } from "../../data/account.ts";
import { addressSchema } from "../../data/gmail.ts";
import { dataTargetFields, requireTarget, requireTargetMessage, resolveAccounts } from "./data-target.ts";
import { parseOrReply } from "./validation.ts";

export const setParticipantsBody = z
  .strictObject({
    ...dataTargetFields,
    /**
     * `Name <Address@Example.com>` or bare addresses, case kept as given. Null restores the
     * generated correspondents.
     */
    participants: z.array(addressSchema).min(1).max(500).nullable(),
  })
  .refine(requireTarget, requireTargetMessage);

export type SetParticipantsBody = z.input<typeof setParticipantsBody>;
export type SetParticipantsResult = { connectionKey: string; participants: Participant[] };

/**
 * `PUT /_control/data/participants` — who the Google account corresponds with: Gmail From/To/Cc
 * and Calendar attendees and organisers, existing items included (set them before the first sync
 * to keep a poller's view consistent). Items added later draw from them too.
 */
export function setParticipantsRoute(app: FastifyInstance, { state }: SimulatorContext): void {
  app.put("/_control/data/participants", async (request, reply) => {
    const body = parseOrReply(setParticipantsBody, request.body, reply);
    if (body === null) return reply;
    const accounts = resolveAccounts(state, body, ["gmail", "calendar"], reply, { single: true });
    if (accounts === null) return reply;
    const account = accounts[0];
    if (account === undefined) return reply;
    const participants =
      body.participants === null
        ? []
        : body.participants.map((text) => parseParticipant(text) ?? { name: null, email: text });
    state.data.setParticipants(account, participants);
    const answer: SetParticipantsResult = {
      connectionKey: account.connectionKey,
      participants: participants.length > 0 ? participants : account.profile.contacts,
    };
    return answer;
  });
}
