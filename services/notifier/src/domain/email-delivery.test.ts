import { describe, expect, it } from "vitest";
import {
  composeEmail,
  deliveryStep,
  emailTemplateInput,
  type RetryPolicy,
  renderNotificationEmail,
  type StoredEmailNotification,
} from "./email-delivery.ts";

const policy: RetryPolicy = {
  maxAttempts: 4,
  backoff: { initialDelayMs: 1_000, maxDelayMs: 8_000 },
  maxAgeMs: 60_000,
};
const half = () => 0.5;

describe("deliveryStep", () => {
  it("marks a sent email sent and a refused one failed with the vendor's reason", () => {
    expect(deliveryStep({ outcome: "sent", providerMessageId: "e1" }, 1, 0, policy)).toEqual({
      status: "sent",
      providerMessageId: "e1",
    });
    expect(
      deliveryStep(
        { outcome: "rejected", reason: "422 validation_error: bad", httpStatus: 422 },
        1,
        0,
        policy,
      ),
    ).toEqual({
      status: "failed",
      error: "422 validation_error: bad",
    });
  });

  it("retries after the attempt's backoff, or the vendor's Retry-After when longer", () => {
    const failure = { outcome: "retryable", reason: "503 x", httpStatus: 503 } as const;
    // Equal jitter at 0.5: three quarters of the step (1 s, 2 s, 4 s).
    expect(deliveryStep(failure, 1, 0, policy, half)).toEqual({
      status: "pending",
      delayMs: 750,
      error: "503 x",
    });
    expect(deliveryStep(failure, 3, 0, policy, half)).toMatchObject({ delayMs: 3_000 });
    expect(deliveryStep({ ...failure, retryAfterMs: 5_000 }, 1, 0, policy, half)).toMatchObject({
      delayMs: 5_000,
    });
    expect(deliveryStep({ ...failure, retryAfterMs: 10 }, 1, 0, policy, half)).toMatchObject({
      delayMs: 750,
    });
  });

  it("gives up after the last attempt, and before a retry would outlive the idempotency key", () => {
    const failure = { outcome: "retryable", reason: "no answer: x", httpStatus: null } as const;
    expect(deliveryStep(failure, 4, 0, policy, half)).toEqual({
      status: "failed",
      error: "gave up after 4 attempts: no answer: x",
    });
    expect(deliveryStep(failure, 1, 59_500, policy, half)).toMatchObject({ status: "failed" });
    expect(deliveryStep(failure, 1, 59_000, policy, half)).toMatchObject({ status: "pending" });
  });
});

const disconnected: StoredEmailNotification = {
  kind: "connection_disconnected",
  body: "Syncwell lost access to your Google account.",
  link: "https://app.syncwell.test/connections/c1/reconnect",
  facts: { provider: "google", connectionId: "c1" },
  recipientName: "Ann",
  subjectName: null,
};

describe("emailTemplateInput", () => {
  it("builds a disconnection's email from the provider and the stored reconnect link", () => {
    expect(emailTemplateInput(disconnected)).toEqual({
      ok: true,
      input: {
        kind: "disconnected",
        providerName: "Google",
        reconnectUrl: "https://app.syncwell.test/connections/c1/reconnect",
        recipientName: "Ann",
      },
    });
    expect(emailTemplateInput({ ...disconnected, link: null })).toMatchObject({ ok: false });
  });

  it("builds a health alert from the subject's name and the scorer's reason", () => {
    const input = emailTemplateInput({
      kind: "health_stalled",
      body: "No stage change in 30 days",
      link: null,
      facts: { subjectKind: "deal", subjectId: "d1", status: "stalled" },
      recipientName: null,
      subjectName: "Acme renewal",
    });
    expect(input).toEqual({
      ok: true,
      input: {
        kind: "health_alert",
        status: "stalled",
        subjectType: "deal",
        subjectName: "Acme renewal",
        reason: "No stage change in 30 days",
        actionUrl: null,
        recipientName: null,
      },
    });
    const connection = emailTemplateInput({
      kind: "health_critical",
      body: "r",
      link: null,
      facts: { subjectKind: "connection" },
      recipientName: null,
      subjectName: "github",
    });
    expect(connection.ok && connection.input.kind === "health_alert" && connection.input.subjectName).toBe(
      "GitHub",
    );
  });

  it("has no email for in-app-only kinds", () => {
    expect(emailTemplateInput({ ...disconnected, kind: "connection_warning" })).toEqual({
      ok: false,
      problem: "no email for notifications of kind connection_warning",
    });
  });
});

describe("composeEmail", () => {
  const message = { ...disconnected, notificationId: "n1", toAddress: "ann@example.test" };
  const sender = { from: "Syncwell <alerts@syncwell.test>", replyTo: undefined };

  it("composes everything the vendor is sent but the key, as plain JSON: the stored copy is the sent one", () => {
    const composed = composeEmail(message, sender);
    const rendered = renderNotificationEmail(disconnected);
    if (!composed.ok || !rendered.ok) throw new Error("expected an email");
    expect(composed.email).toStrictEqual({
      from: "Syncwell <alerts@syncwell.test>",
      to: "ann@example.test",
      ...rendered.email,
      tags: { kind: "connection_disconnected", notification: "n1" },
    });
    // What jsonb gives back: no key lost, none added (an undefined replyTo is left out, not stored).
    expect(JSON.parse(JSON.stringify(composed.email))).toStrictEqual(composed.email);
    expect(composeEmail(message, { ...sender, replyTo: "help@syncwell.test" })).toMatchObject({
      ok: true,
      email: { replyTo: "help@syncwell.test" },
    });
  });

  it("depends on the live names, which is why a message's email is composed once and stored", () => {
    const first = composeEmail(message, sender);
    const renamed = composeEmail({ ...message, recipientName: "Annabel" }, sender);
    expect(first.ok && renamed.ok).toBe(true);
    expect(renamed).not.toEqual(first);
  });

  it("has no email without an address, or for a notification without one", () => {
    expect(composeEmail({ ...message, toAddress: null }, sender)).toEqual({
      ok: false,
      problem: "the user has no email address",
    });
    expect(composeEmail({ ...message, toAddress: "" }, sender)).toMatchObject({ ok: false });
    expect(composeEmail({ ...message, link: null }, sender)).toEqual({
      ok: false,
      problem: "a disconnection without its reconnect link",
    });
  });
});
