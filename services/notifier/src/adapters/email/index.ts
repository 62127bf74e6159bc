import { type EmailProvider, emailConfigFields } from "./email-provider.ts";
import { ResendEmailProvider, resendConfigFields } from "./resend.provider.ts";

export * from "./email-provider.ts";
export * from "./resend.provider.ts";

/**
 * Every variable of the email channel, for the notifier's config schema
 * (`z.object({ ...commonEnv, ...emailChannelConfigFields, … })`). Another vendor adds its
 * `<vendor>ConfigFields` here and its branch in createEmailProvider.
 */
export const emailChannelConfigFields = { ...emailConfigFields, ...resendConfigFields };

export type EmailChannelConfig = {
  EMAIL_FROM?: string | undefined;
  EMAIL_SEND_TIMEOUT: number;
  RESEND_API_KEY?: string | undefined;
  RESEND_BASE_URL?: string | undefined;
};

/** The configured provider, or null when email is off (no sender or no vendor key). */
export function createEmailProvider(config: EmailChannelConfig): EmailProvider | null {
  if (config.EMAIL_FROM === undefined || config.RESEND_API_KEY === undefined) return null;
  return new ResendEmailProvider({
    apiKey: config.RESEND_API_KEY,
    baseUrl: config.RESEND_BASE_URL,
    timeoutMs: config.EMAIL_SEND_TIMEOUT,
  });
}
