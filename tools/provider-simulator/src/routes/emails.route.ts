import { performance } from "node:perf_hooks";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { delay, hang, type SimulatorContext } from "../context.ts";
import {
  checkEmailBody,
  MAX_IDEMPOTENCY_KEY_CHARS,
  payloadFingerprint,
  type ResendError,
  type SendEmailBody,
} from "../emails.ts";
import { type Fault, resendErrorName, retryAfterHeader } from "../faults.ts";
import type { SimulatorState } from "../state.ts";

/** A 200 whose JSON is cut off: what a crashing proxy or a truncated read looks like. */
const MALFORMED_BODY = '{"id":"4ef9a417-02e9-4d39-ad75';
/** Resend's default team limit (requests per second), sent in `ratelimit-limit` when none is set. */
const RESEND_DEFAULT_RATE_LIMIT = 2;
const API_KEY = /^re_[A-Za-z0-9_]+$/;

type EmailAnswer = {
  status: number;
  /** Resend's error `name`, for the request log; null on success. */
  error: string | null;
  headers: Record<string, string>;
  body: { id: string } | ResendError | string;
};

/** Logs the request as it ended: the status answered, or null when no answer reached the client. */
type RecordAnswer = (status: number | null, error: string | null) => void;

/**
 * `POST /emails` — Resend's send endpoint: bearer API key (`re_…`), the JSON body of its API
 * reference, `Idempotency-Key` as Resend honours it (see EmailStore), the optional team rate
 * limit, and the scripted faults of `endpoint: "email"`. Answers `{"id": "<uuid>"}` or Resend's
 * error body `{"statusCode","name","message"}`.
 */
export function emailsRoute(app: FastifyInstance, ctx: SimulatorContext): void {
  app.post("/emails", (request, reply) => handleSendEmail(ctx, request, reply));
}

async function handleSendEmail(
  ctx: SimulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply | undefined> {
  const { state } = ctx;
  const startedAt = state.now();
  const started = performance.now();
  const fault = state.takeFault({
    endpoint: "email",
    provider: "resend",
    connectionKey: null,
    refreshToken: null,
    resource: null,
    path: "/emails",
  });
  const record: RecordAnswer = (status, error) => {
    state.recordRequest(startedAt, {
      endpoint: "email",
      provider: "resend",
      resource: null,
      path: "/emails",
      grantId: null,
      connectionKey: null,
      clientId: null,
      status,
      error,
      fault: fault?.kind ?? null,
      reusedRefreshToken: false,
      rotated: false,
      durationMs: performance.now() - started,
    });
  };
  if (fault?.kind === "timeout") {
    record(null, null);
    await hang(reply, ctx);
    return undefined;
  }
  const answer = faultAnswer(state, fault) ?? (await sendAnswer(ctx, request, fault));
  if (answer === "dropped") {
    // Sent, then the connection is reset: the client cannot tell whether the email went out.
    record(null, null);
    reply.hijack();
    reply.raw.socket?.resetAndDestroy();
    return undefined;
  }
  record(answer.status, answer.error);
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

function resendError(
  status: number,
  name: string,
  message: string,
  headers: Record<string, string> = {},
): EmailAnswer {
  return { status, error: name, headers, body: { statusCode: status, name, message } };
}

/** Resend's rate-limit headers on a 429: the limit, none left, and when to come back. */
function rateLimitHeaders(
  state: SimulatorState,
  retryAfter: string,
  seconds: number,
): Record<string, string> {
  const limit = state.emails.rateLimit?.requestsPerSecond ?? RESEND_DEFAULT_RATE_LIMIT;
  return {
    "retry-after": retryAfter,
    "ratelimit-limit": String(limit),
    "ratelimit-remaining": "0",
    "ratelimit-reset": String(seconds),
  };
}

/** Faults that answer in Resend's place: nothing is sent. */
function faultAnswer(state: SimulatorState, fault: Fault | null): EmailAnswer | null {
  if (fault?.kind === "malformed") {
    return {
      status: 200,
      error: null,
      headers: { "content-type": "application/json" },
      body: MALFORMED_BODY,
    };
  }
  if (fault?.kind !== "status") return null;
  const name = fault.error ?? resendErrorName(fault.status);
  const message = fault.errorDescription ?? `Simulated ${fault.status} (${name}).`;
  if (fault.status !== 429) {
    const headers: Record<string, string> =
      fault.retryAfter === undefined ? {} : { "retry-after": retryAfterHeader(fault.retryAfter) };
    return resendError(fault.status, name, message, headers);
  }
  const retryAfter = retryAfterHeader(fault.retryAfter ?? 1);
  const seconds = /^\d+$/.test(retryAfter)
    ? Number(retryAfter)
    : Math.max(0, Math.ceil((Date.parse(retryAfter) - state.now()) / 1000));
  return resendError(429, name, message, rateLimitHeaders(state, retryAfter, seconds));
}

/** Authentication, the team rate limit and the idempotency key's form, in Resend's order. */
function checkRequest(state: SimulatorState, request: FastifyRequest): EmailAnswer | string | null {
  const auth = request.headers.authorization;
  const bearer = auth === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(auth);
  if (bearer === null || bearer === undefined) {
    return resendError(401, "missing_api_key", "Missing API key in the authorization header.");
  }
  if (!API_KEY.test(bearer[1] ?? "")) return resendError(403, "invalid_api_key", "API key is invalid.");
  const limit = state.emails.takeRateLimit();
  if (!limit.ok) {
    const seconds = limit.retryAfterSeconds;
    const perSecond = state.emails.rateLimit?.requestsPerSecond ?? RESEND_DEFAULT_RATE_LIMIT;
    return resendError(
      429,
      "rate_limit_exceeded",
      `Too many requests. You can only make ${perSecond} requests per second. See rate limit response headers for more information.`,
      rateLimitHeaders(state, String(seconds), seconds),
    );
  }
  const key = request.headers["idempotency-key"];
  if (key === undefined) return null;
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_CHARS) {
    return resendError(400, "invalid_idempotency_key", "The key must be between 1-256 chars.");
  }
  return key;
}

/**
 * Resend's answer to a send. With an idempotency key, the key is in flight from its check until
 * the email is sent: a `latency` fault widens that window (a second request with the same key
 * meanwhile gets 409 `concurrent_idempotent_requests`).
 */
async function sendAnswer(
  ctx: SimulatorContext,
  request: FastifyRequest,
  fault: Fault | null,
): Promise<EmailAnswer | "dropped"> {
  const { state } = ctx;
  const checked = checkRequest(state, request);
  if (checked !== null && typeof checked !== "string") return checked;
  const key = checked;
  const body = checkEmailBody(request.body);
  if (!body.ok) return resendError(body.error.statusCode, body.error.name, body.error.message);
  const fingerprint = key === null ? null : payloadFingerprint(request.body);
  if (key !== null && fingerprint !== null) {
    const seen = state.emails.beginIdempotent(key, fingerprint);
    if (seen.kind === "replay") return { status: 200, error: null, headers: {}, body: { id: seen.emailId } };
    if (seen.kind === "conflict")
      return resendError(seen.error.statusCode, seen.error.name, seen.error.message);
  }
  if (fault?.kind === "latency") await delay(fault.ms, ctx.closing);
  return deliver(state, body.body, key, fingerprint, fault);
}

function deliver(
  state: SimulatorState,
  body: SendEmailBody,
  key: string | null,
  fingerprint: string | null,
  fault: Fault | null,
): EmailAnswer | "dropped" {
  const email = state.emails.accept(body, key, fingerprint);
  if (fault?.kind === "drop_after_send") return "dropped";
  return { status: 200, error: null, headers: {}, body: { id: email.id } };
}
