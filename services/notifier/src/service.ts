import { defineService } from "@syncwell/service";
import type { FastifyInstance } from "fastify";
import { accessTokenSettings, configWarnings, notifierConfigSchema, notifySettings } from "./config.ts";
import { notifierConsumers } from "./consumers/index.ts";
import { changesSubject, encodeChange, type NotificationChange } from "./domain/live-changes.ts";
import { LiveStreams } from "./engine/live-streams.ts";
import { NotifyBatches } from "./engine/notify-batches.ts";
import { startEmailDelivery } from "./engine/start-email-delivery.ts";
import { registerNotificationRoutes } from "./routes/index.ts";

/** The notifier: decides what to tell users from token and health events, and stores it in-app with its email to send. */
export const notifierService = defineService({
  name: "notifier",
  configSchema: notifierConfigSchema,
  setup: (ctx) => {
    for (const warning of configWarnings(ctx.config)) ctx.logger.warn(warning);
    const { nc, naming } = ctx.bus;
    const email = startEmailDelivery(ctx);
    // Fire and forget: a stream that misses one reads the user's changes after its last seq.
    const publishChange = (userId: string, change: NotificationChange) => {
      try {
        nc.publish(naming.subject(changesSubject(userId)), encodeChange(change));
      } catch (err) {
        ctx.logger.warn({ err, userId }, "a notification change was not announced to live streams");
      }
    };
    const batches = new NotifyBatches({
      pool: ctx.pool,
      logger: ctx.logger,
      settings: notifySettings(ctx.config),
      source: ctx.name,
      publishChange,
      onEmailsStored: () => email?.nudge(),
    });
    const access = accessTokenSettings(ctx.config);
    const streams = new LiveStreams({
      nc,
      subject: (relative) => naming.subject(relative),
      perUser: ctx.config.NOTIFY_STREAMS_PER_USER,
      logger: ctx.logger,
    });
    return {
      batches,
      /** The email worker; null when email is off. */
      email,
      /** The in-app API's live streams open on this replica. */
      streams,
      consumers: notifierConsumers(batches),
      // Without keys to verify tokens with, the service serves no in-app API.
      ...(access && {
        routes: (app: FastifyInstance) =>
          registerNotificationRoutes(app, { db: ctx.pool, access, streams, publishChange }),
      }),
      stop: async () => {
        await batches.drain();
        await email?.stop();
      },
    };
  },
});
