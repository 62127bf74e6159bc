import { setTimeout as sleep } from "node:timers/promises";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos, RequestError, TimeoutError } from "@nats-io/transport-node";
import type { StreamDefinition } from "@syncwell/contracts";
import { type Backoff, backoffDelayMs } from "@syncwell/runtime/backoff";
import type { Logger } from "pino";
import type { StartAt } from "./consumer.ts";
import type { Naming } from "./naming.ts";

/** Per-deployment overrides of the stream limits in contracts (tests use small, short-lived streams). */
export type StreamOverrides = {
  maxBytes?: number;
  maxAgeMs?: number;
  storage?: "file" | "memory";
  replicas?: number;
};

export function streamConfig(def: StreamDefinition, naming: Naming, overrides: StreamOverrides = {}) {
  return {
    name: naming.stream(def),
    description: def.description,
    subjects: def.subjects.map((s) => naming.subject(s)),
    retention: RetentionPolicy.Limits,
    storage: overrides.storage === "memory" ? StorageType.Memory : StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(overrides.maxAgeMs ?? def.maxAgeMs),
    max_bytes: overrides.maxBytes ?? def.maxBytes,
    max_msg_size: def.maxMsgSize,
    duplicate_window: nanos(def.duplicateWindowMs),
    num_replicas: overrides.replicas ?? 1,
  } satisfies Partial<StreamConfig> & { name: string };
}

const API_STREAM_NOT_FOUND = 10059;
const API_STREAM_NAME_IN_USE = 10058;
const API_STREAM_SUBJECT_OVERLAP = 10065;
const PROVISION_ATTEMPTS = 5;
/** Between provisioning attempts (another replica is creating the same stream, or NATS is electing). */
const PROVISION_BACKOFF: Backoff = { initialDelayMs: 200, maxDelayMs: 2_000 };

function apiCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

/**
 * Why a provisioning step may be tried again, or undefined when it may not:
 * - another replica created the same stream between our info and add. The server answers a
 *   losing add with "name in use" or, when the winner's subjects are registered first, with
 *   "subjects overlap";
 * - the JetStream API timed out, which a busy server does; the retry's info shows whether the
 *   timed-out request took effect.
 */
function retryReason(err: unknown): string | undefined {
  const code = apiCode(err);
  if (code === API_STREAM_NAME_IN_USE || code === API_STREAM_SUBJECT_OVERLAP) return "creation race";
  if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
    return "JetStream API timeout";
  }
  return undefined;
}

/**
 * Creates the stream, or updates it when its settings differ. Safe to run from every replica at
 * once: the loser of a creation race finds the stream and updates it to the same settings.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  config: ReturnType<typeof streamConfig>,
  logger: Logger,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await createOrUpdateStream(jsm, config, logger);
      return;
    } catch (err) {
      const reason = retryReason(err);
      if (reason === undefined || attempt >= PROVISION_ATTEMPTS) {
        throw new Error(
          `could not provision stream ${config.name} (subjects ${config.subjects.join(", ")}) after ${attempt} attempt(s): ${(err as Error).message}`,
          { cause: err },
        );
      }
      logger.warn({ stream: config.name, attempt, reason }, "provisioning the stream again");
      await sleep(backoffDelayMs(PROVISION_BACKOFF, attempt));
    }
  }
}

async function createOrUpdateStream(
  jsm: JetStreamManager,
  config: ReturnType<typeof streamConfig>,
  logger: Logger,
): Promise<void> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(config.name)).config;
  } catch (err) {
    if (apiCode(err) !== API_STREAM_NOT_FOUND) throw err;
    await jsm.streams.add(config);
    logger.info({ stream: config.name, subjects: config.subjects }, "stream created");
    return;
  }
  const differs =
    current.subjects.join(",") !== config.subjects.join(",") ||
    current.max_age !== config.max_age ||
    current.max_bytes !== config.max_bytes ||
    current.max_msg_size !== config.max_msg_size ||
    current.duplicate_window !== config.duplicate_window ||
    current.description !== config.description;
  if (current.storage !== config.storage) {
    logger.warn(
      { stream: config.name, current: current.storage, wanted: config.storage },
      "stream storage type differs and cannot be changed in place; keeping the existing one",
    );
  }
  if (differs) {
    const { storage: _storage, retention: _retention, ...updatable } = config;
    await jsm.streams.update(config.name, updatable);
    logger.info({ stream: config.name }, "stream updated");
  }
}

export type DurableConsumerSpec = {
  stream: string;
  durable: string;
  filterSubject: string;
  ackWaitMs: number;
  maxAckPending: number;
  description?: string | undefined;
  /** Where a durable created now starts (an existing one keeps its position). */
  startAt?: StartAt;
};

/**
 * Creates or updates a durable pull consumer. Redelivery limits are enforced by the bus itself
 * (it dead-letters on the last delivery), so the server-side max_deliver stays unlimited: a
 * message is never silently dropped by the server.
 */
export async function ensureDurableConsumer(jsm: JetStreamManager, spec: DurableConsumerSpec): Promise<void> {
  const config = {
    durable_name: spec.durable,
    description: spec.description,
    ack_policy: AckPolicy.Explicit,
    ...deliverPolicy(spec.startAt ?? "new"),
    filter_subject: spec.filterSubject,
    ack_wait: nanos(spec.ackWaitMs),
    max_ack_pending: spec.maxAckPending,
    max_deliver: -1,
  };
  try {
    const info = await jsm.consumers.info(spec.stream, spec.durable);
    const c = info.config;
    if (
      c.filter_subject !== config.filter_subject ||
      c.ack_wait !== config.ack_wait ||
      c.max_ack_pending !== config.max_ack_pending ||
      c.description !== config.description
    ) {
      const {
        durable_name: _d,
        deliver_policy: _p,
        opt_start_time: _t,
        ack_policy: _a,
        ...updatable
      } = {
        opt_start_time: undefined,
        ...config,
      };
      await jsm.consumers.update(spec.stream, spec.durable, updatable);
    }
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== 10014) throw err;
    // Creating with an identical config is idempotent on the server, so a race between replicas
    // ends with both succeeding.
    await jsm.consumers.add(spec.stream, config);
  }
}

function deliverPolicy(startAt: StartAt): { deliver_policy: DeliverPolicy; opt_start_time?: string } {
  if (startAt === "new") return { deliver_policy: DeliverPolicy.New };
  if (startAt === "all") return { deliver_policy: DeliverPolicy.All };
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: startAt.since.toISOString() };
}
