// The parser alone: the package's index loads undici, which the notifier does not use.
import { parseRetryAfter } from "@syncwell/http-client/retry-after";
import { envUrl } from "@syncwell/runtime";
import { Resend } from "resend";
import { z } from "zod";
import {
  classifyEmailFailure,
  type EmailMessage,
  type EmailProvider,
  type EmailSendResult,
} from "./email-provider.ts";

/**
 * Resend through its official Node SDK (`resend`).
 *
 * The SDK answers `{ data, error, headers }` and never throws: `error` is Resend's error body
 * (`{ statusCode, name, message }`, so the status is the one Resend wrote in the body), `headers`
 * the answer's headers (lower-cased), where `Retry-After` and the `ratelimit-*` headers are read.
 * A request that got no answer — refused connection, the time limit below, a body that is not
 * JSON on a 2xx — comes back as `application_error` with `statusCode: null` and no headers: the
 * SDK keeps the cause to itself, so the reason says only that there was no answer.
 *
 * The SDK calls the global `fetch` and has no hook for another client, so this adapter does not
 * go through `@syncwell/http-client`; its time limit is an `AbortSignal` on each send.
 */

export const resendConfigFields = {
  /** Resend API key (`re_…`); unset turns the email channel off. */
  RESEND_API_KEY: z
    .string()
    .regex(/^re_\S+$/, "must be a Resend API key (re_…)")
    .optional()
    .describe("Resend API key (re_…); unset turns email off"),
  /** Resend's API origin; the provider simulator's URL locally and in tests. */
  RESEND_BASE_URL: envUrl({ protocols: ["http:", "https:"] })
    .optional()
    .describe("Resend API origin (default https://api.resend.com)"),
};

export type ResendProviderOptions = {
  apiKey: string;
  /** Default: the SDK's (`RESEND_BASE_URL`, else `https://api.resend.com`). */
  baseUrl?: string | undefined;
  /** Time limit of one send, connection to answer. */
  timeoutMs: number;
  /** Clock for HTTP-date Retry-After values (tests). */
  now?: () => number;
};

/** Resend's tags take ASCII letters, digits, `_` and `-` only, at most 256 characters. */
function tagText(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 256) || "_";
}

export class ResendEmailProvider implements EmailProvider {
  readonly name = "resend";
  private readonly client: Resend;
  private readonly apiKey: string;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(options: ResendProviderOptions) {
    this.apiKey = options.apiKey;
    // The SDK appends `/emails` to the base URL as given: `https://x/` would become `https://x//emails`.
    const baseUrl = options.baseUrl?.replace(/\/+$/, "");
    this.client = new Resend(options.apiKey, baseUrl === undefined ? {} : { baseUrl });
    this.timeoutMs = options.timeoutMs;
    this.now = options.now ?? Date.now;
  }

  async send(message: EmailMessage): Promise<EmailSendResult> {
    const tags = Object.entries(message.tags ?? {}).map(([name, value]) => ({
      name: tagText(name),
      value: tagText(value),
    }));
    const { data, error, headers } = await this.client.emails.send(
      {
        from: message.from,
        to: typeof message.to === "string" ? message.to : [...message.to],
        subject: message.subject,
        html: message.html,
        text: message.text,
        ...(message.replyTo === undefined ? {} : { replyTo: message.replyTo }),
        ...(tags.length === 0 ? {} : { tags }),
      },
      { idempotencyKey: message.idempotencyKey, signal: AbortSignal.timeout(this.timeoutMs) },
    );
    if (error === null && typeof data?.id === "string" && data.id !== "") {
      return { outcome: "sent", providerMessageId: data.id };
    }
    const status = typeof error?.statusCode === "number" ? error.statusCode : null;
    return classifyEmailFailure(
      {
        httpStatus: status,
        code: typeof error?.name === "string" ? error.name : null,
        message:
          error === null
            ? "Resend answered without an email id"
            : status === null
              ? "no answer from Resend (network failure, time limit, or an unreadable answer)"
              : String(error.message ?? "no message"),
        retryAfterMs: this.retryAfterMs(headers),
      },
      [this.apiKey],
    );
  }

  /** `Retry-After`, else `ratelimit-reset` (delta seconds, as Resend sends it with a 429). */
  private retryAfterMs(headers: Record<string, string> | null): number | undefined {
    if (headers === null) return undefined;
    const now = this.now();
    return parseRetryAfter(headers["retry-after"], now) ?? parseRetryAfter(headers["ratelimit-reset"], now);
  }
}
