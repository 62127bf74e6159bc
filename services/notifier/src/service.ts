import { defineService } from "@syncwell/service";
import { configWarnings, notifierConfigSchema, notifySettings } from "./config.ts";
import { notifierConsumers } from "./consumers/index.ts";
import { changesSubject, encodeChange } from "./domain/live-changes.ts";
import { NotifyBatches } from "./engine/notify-batches.ts";
import { startEmailDelivery } from "./engine/start-email-delivery.ts";

/** The notifier: decides what to tell users from token and health events, and stores it in-app with its email to send. */
export const notifierService = defineService({
  name: "notifier",
  configSchema: notifierConfigSchema,
  setup: (ctx) => {
    for (const warning of configWarnings(ctx.config)) ctx.logger.warn(warning);
    const { nc, naming } = ctx.bus;
    const email = startEmailDelivery(ctx);
    const batches = new NotifyBatches({
      pool: ctx.pool,
      logger: ctx.logger,
      settings: notifySettings(ctx.config),
      source: ctx.name,
      // Fire and forget: a stream that misses one reads the user's changes after its last seq.
      publishChange: (userId, change) => {
        try {
          nc.publish(naming.subject(changesSubject(userId)), encodeChange(change));
        } catch (err) {
          ctx.logger.warn({ err, userId }, "a notification change was not announced to live streams");
        }
      },
      onEmailsStored: () => email?.nudge(),
    });
    return {
      batches,
      /** The email worker; null when email is off. */
      email,
      consumers: notifierConsumers(batches),
      stop: async () => {
        await batches.drain();
        await email?.stop();
      },
    };
  },
});
