import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { deadLetterSubject } from "@syncwell/contracts";
import type { Naming } from "./naming.ts";

/**
 * A dead letter keeps the original payload byte for byte as its body and the original headers, so
 * replaying it is republishing body and headers to `Syncwell-DL-Subject`. Why it died is in headers.
 */
export const DL_HEADERS = {
  subject: "Syncwell-DL-Subject",
  stream: "Syncwell-DL-Stream",
  sequence: "Syncwell-DL-Sequence",
  consumer: "Syncwell-DL-Consumer",
  deliveries: "Syncwell-DL-Deliveries",
  reason: "Syncwell-DL-Reason",
  error: "Syncwell-DL-Error",
  failedAt: "Syncwell-DL-Failed-At",
} as const;

export type DeadLetterReason = "invalid" | "handler" | "unhandled_type" | "permanent";

const MAX_ERROR_LENGTH = 2_000;

/** Headers are single-line and bounded; secrets in provider responses are the handler's job to mask. */
function headerSafe(text: string): string {
  const oneLine = text.replace(/[\r\n]+/g, " ").trim();
  return oneLine.length > MAX_ERROR_LENGTH ? `${oneLine.slice(0, MAX_ERROR_LENGTH)}…` : oneLine;
}

export async function publishDeadLetter(
  deps: { js: JetStreamClient; naming: Naming; timeoutMs: number },
  msg: JsMsg,
  failure: { consumer: string; reason: DeadLetterReason; error: string },
): Promise<void> {
  const hdrs = natsHeaders();
  if (msg.headers) {
    for (const [key, values] of msg.headers) {
      if (key.toLowerCase() === "nats-msg-id" || key.startsWith("Syncwell-DL-")) continue;
      for (const value of values) hdrs.append(key, value);
    }
    const originalId = msg.headers.get("Nats-Msg-Id");
    if (originalId) hdrs.set("Syncwell-DL-Msg-Id", originalId);
  }
  hdrs.set(DL_HEADERS.subject, deps.naming.relative(msg.subject));
  hdrs.set(DL_HEADERS.stream, msg.info.stream);
  hdrs.set(DL_HEADERS.sequence, String(msg.info.streamSequence));
  hdrs.set(DL_HEADERS.consumer, failure.consumer);
  hdrs.set(DL_HEADERS.deliveries, String(msg.info.deliveryCount));
  hdrs.set(DL_HEADERS.reason, failure.reason);
  hdrs.set(DL_HEADERS.error, headerSafe(failure.error) || "(no message)");
  hdrs.set(DL_HEADERS.failedAt, new Date().toISOString());
  await deps.js.publish(deps.naming.subject(deadLetterSubject(failure.consumer)), msg.data, {
    headers: hdrs,
    // The same stream message dead-lettered twice (ack lost, process died) is stored once.
    msgID: `dl:${failure.consumer}:${msg.info.stream}:${msg.info.streamSequence}`,
    timeout: deps.timeoutMs,
  });
}
