import { createRateLimiter } from "@syncwell/rate-limit";
import type { ServiceContext } from "@syncwell/service";
import { newReplicaId } from "@syncwell/tick-runs";
import { createEmailProvider } from "../adapters/email/index.ts";
import { type Config, emailDeliverySettings } from "../config.ts";
import { EmailDelivery } from "./email-delivery.ts";

/**
 * The email worker of this replica, started; null when email is off (no EMAIL_FROM or no vendor
 * key), in which case email messages wait as pending until a replica with email on sends them.
 */
export function startEmailDelivery(ctx: ServiceContext<Config>): EmailDelivery | null {
  const logger = ctx.logger.child({ component: "email-delivery" });
  const { config } = ctx;
  const provider = createEmailProvider(config);
  if (provider === null || config.EMAIL_FROM === undefined) {
    const missing = config.EMAIL_FROM === undefined ? "EMAIL_FROM" : "RESEND_API_KEY";
    logger.warn({ missing }, "email is off: email messages stay pending until a replica can send them");
    return null;
  }
  if (config.EMAIL_CLAIM_LEASE <= config.EMAIL_SEND_TIMEOUT) {
    // Still safe (the same idempotency key), but a slow send would be taken over and sent again.
    logger.warn("EMAIL_CLAIM_LEASE is not longer than EMAIL_SEND_TIMEOUT: slow sends may be repeated");
  }
  if (config.RESEND_BASE_URL !== undefined && config.NODE_ENV === "production") {
    logger.warn({ baseUrl: config.RESEND_BASE_URL }, "Resend API URL overridden in production");
  }
  const delivery = new EmailDelivery({
    pool: ctx.pool,
    logger: ctx.logger,
    provider,
    limiter: createRateLimiter(ctx.pool),
    settings: { ...emailDeliverySettings(config), from: config.EMAIL_FROM },
    source: ctx.name,
    replicaId: newReplicaId(),
  });
  delivery.start();
  return delivery;
}
