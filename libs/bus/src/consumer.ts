import {
  type ConsumerMessages,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { type Context, context, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { type EventOf, type EventType, type StreamKey, streams, validateEvent } from "@syncwell/contracts";
import { backoffDelayMs } from "@syncwell/runtime/backoff";
import { type RepeatedFailureLog, repeatedFailureLog } from "@syncwell/telemetry";
import type { Logger } from "pino";
import { type DeadLetterReason, publishDeadLetter } from "./dead-letter.ts";
import type { BusMetrics } from "./metrics.ts";
import type { Naming } from "./naming.ts";
import { ensureDurableConsumer } from "./provision.ts";
import { tracer } from "./publisher.ts";
import { defaultRetryPolicy, PermanentError, RetryLaterError, type RetryPolicy } from "./retry-policy.ts";
import { extractTraceContext } from "./trace-context.ts";

export type HandlerContext = {
  /** Durable name of the consumer running the handler. */
  consumer: string;
  /** 1 on first delivery. */
  deliveryCount: number;
  /** Absolute subject the message arrived on. */
  subject: string;
  streamSequence: number;
  logger: Logger;
  /**
   * Aborted when the handler's time limit (`timeoutMs`) passes: pass it to the handler's I/O so
   * the work stops, and the message is retried or dead-lettered.
   */
  signal: AbortSignal;
};

export type Handler<T extends EventType> = (event: EventOf<T>, ctx: HandlerContext) => Promise<void>;
export type HandlerMap = { [T in EventType]?: Handler<T> };

/**
 * One durable consumer of a service: what it reads, who handles each event type, how it retries.
 * A service lists its consumers in one catalog (data, not code).
 */
export type ConsumerDefinition = {
  /** Durable name, shared by all replicas of the service so they split the work. */
  durable: string;
  description?: string;
  stream: StreamKey;
  /** Relative subject filter, e.g. `tick.token-refresh` or `token.*`. */
  filterSubject: string;
  handlers: HandlerMap;
  retry?: Partial<RetryPolicy>;
  /** Handlers running at once in this replica. */
  concurrency?: number;
  /** Server redelivers an unacked message after this long; long handlers extend it automatically. */
  ackWaitMs?: number;
  /**
   * Messages pulled ahead of the handlers. Buffered messages are not yet being handled, so their
   * ack wait runs: keep `prefetch × handler time / concurrency` well under ackWaitMs for slow handlers.
   */
  prefetch?: number;
  /**
   * A handler's time limit (default 60 s). When it passes, the handler's `signal` is aborted, the
   * message is retried (or dead-lettered on its last delivery) and
   * `syncwell_handler_timeouts_total` counts it: a hung handler is never kept alive forever.
   */
  timeoutMs?: number;
  /**
   * Where a new durable starts reading (only when it is created; an existing durable keeps its
   * position): `new` (default) reads what is published from now on, so a new consumer does not
   * replay the stream's history; `all` reads everything the stream holds; `{ since }` from a time.
   */
  startAt?: StartAt;
};

export type StartAt = "new" | "all" | { since: Date };

/** Thrown into a handler's signal when its time limit passes. */
export class HandlerTimeoutError extends Error {
  constructor(consumer: string, timeoutMs: number) {
    super(`handler of ${consumer} exceeded its time limit of ${timeoutMs} ms`);
    this.name = "HandlerTimeoutError";
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;

export type RunningConsumer = {
  durable: string;
  /** Stops pulling, waits for in-flight handlers to finish and ack. */
  stop(): Promise<void>;
  /** True while the pull loop runs. */
  readonly running: boolean;
};

type Deps = {
  js: JetStreamClient;
  jsm: JetStreamManager;
  naming: Naming;
  metrics: BusMetrics;
  logger: Logger;
  publishTimeoutMs: number;
};

type Outcome = "ok" | "retried" | "dead_lettered";

/**
 * Acks are tiny publishes, and nats.js writes its buffer to the socket once per microtask turn.
 * Handlers finish on separate turns, so acking each at once would cost one socket write per
 * message. Acks collected over one event-loop turn go out in one write instead; a message waits
 * for its ack at most until the next turn.
 */
function ackBatcher() {
  let pending: JsMsg[] = [];
  let scheduled = false;
  function flush(): void {
    scheduled = false;
    const batch = pending;
    pending = [];
    for (const msg of batch) msg.ack();
  }
  return {
    add(msg: JsMsg): void {
      pending.push(msg);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

/** Label lookups are the costly part of prom-client on a hot path: bind each series once. */
function boundMetrics(metrics: BusMetrics, consumer: string) {
  const handled = new Map<string, ReturnType<BusMetrics["handled"]["labels"]>>();
  const duration = new Map<string, ReturnType<BusMetrics["handlerDuration"]["labels"]>>();
  return {
    handled(type: string, outcome: Outcome) {
      const key = `${type}\u0000${outcome}`;
      let series = handled.get(key);
      if (!series) {
        series = metrics.handled.labels({ type, consumer, outcome });
        handled.set(key, series);
      }
      return series;
    },
    duration(type: string) {
      let series = duration.get(type);
      if (!series) {
        series = metrics.handlerDuration.labels({ type, consumer });
        duration.set(type, series);
      }
      return series;
    },
  };
}

/** What the handling of one consumer's messages shares, from start to stop. */
type ActiveConsumer = {
  deps: Deps;
  def: ConsumerDefinition;
  policy: RetryPolicy;
  timeoutMs: number;
  logger: Logger;
  /** Messages whose handlers are running: the keep-alive timer tells the server they are still worked on. */
  handling: Set<JsMsg>;
  acks: ReturnType<typeof ackBatcher>;
  counters: ReturnType<typeof boundMetrics>;
  /**
   * Failed handlers that will be retried: while a dependency is away every message fails, and a
   * line per delivery would run into the thousands. Dead-lettered messages still get a line each.
   */
  retries: RepeatedFailureLog;
};

export async function startConsumer(deps: Deps, def: ConsumerDefinition): Promise<RunningConsumer> {
  const concurrency = Math.max(1, def.concurrency ?? 1);
  const ackWaitMs = def.ackWaitMs ?? 30_000;
  const streamName = deps.naming.stream(streams[def.stream]);
  const logger = deps.logger.child({ consumer: def.durable });

  await provisionDurable(deps, def, streamName, { ackWaitMs, concurrency });
  const consumer = await deps.js.consumers.get(streamName, def.durable);
  const messages: ConsumerMessages = await consumer.consume({
    max_messages: def.prefetch ?? Math.max(concurrency * 8, 64),
  });

  const active: ActiveConsumer = {
    deps,
    def,
    policy: { ...defaultRetryPolicy, ...def.retry },
    timeoutMs: def.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    logger,
    handling: new Set<JsMsg>(),
    acks: ackBatcher(),
    counters: boundMetrics(deps.metrics, def.durable),
    retries: repeatedFailureLog(logger, "handling a message", { level: "warn", next: "it is retried later" }),
  };
  const keepAlive = startKeepAlive(active.handling, ackWaitMs);
  const inFlight = new Set<Promise<void>>();
  let stopping = false;
  let running = true;
  const loop = pullMessages(messages, {
    concurrency,
    inFlight,
    isStopping: () => stopping,
    handle: (msg) => handleMessage(active, msg),
  })
    .catch((err: unknown) => {
      if (!stopping) logger.error({ err }, "consumer loop ended with an error");
    })
    .finally(() => {
      running = false;
    });

  logger.info({ stream: streamName, filter: def.filterSubject, concurrency }, "consumer started");

  return {
    durable: def.durable,
    get running() {
      return running && !stopping;
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      await messages.close();
      await Promise.allSettled([...inFlight]);
      active.acks.flush();
      await loop;
      clearInterval(keepAlive);
      logger.info("consumer stopped");
    },
  };
}

async function provisionDurable(
  deps: Deps,
  def: ConsumerDefinition,
  streamName: string,
  { ackWaitMs, concurrency }: { ackWaitMs: number; concurrency: number },
): Promise<void> {
  await ensureDurableConsumer(deps.jsm, {
    stream: streamName,
    durable: def.durable,
    filterSubject: deps.naming.subject(def.filterSubject),
    ackWaitMs,
    // Bounded in-flight work per replica times a margin for several replicas.
    maxAckPending: Math.max(1_000, concurrency * 64),
    description: def.description,
    startAt: def.startAt ?? "new",
  }).catch((err: unknown) => {
    if (err instanceof JetStreamApiError && err.code === 10059) {
      throw new Error(
        `stream ${streamName} does not exist; provision streams (bus.provision()) before starting consumer ${def.durable}`,
        { cause: err },
      );
    }
    throw err;
  });
}

/**
 * One timer for the whole consumer keeps the server from redelivering messages whose handlers are
 * still working (cheaper than a timer per message on the hot path).
 */
function startKeepAlive(handling: Set<JsMsg>, ackWaitMs: number): NodeJS.Timeout {
  const keepAlive = setInterval(
    () => {
      for (const m of handling) m.working();
    },
    Math.max(1_000, Math.floor(ackWaitMs / 2)),
  );
  keepAlive.unref();
  return keepAlive;
}

/** Hands pulled messages to `handle`, at most `concurrency` at once, until the pull ends. */
async function pullMessages(
  messages: ConsumerMessages,
  {
    concurrency,
    inFlight,
    isStopping,
    handle,
  }: {
    concurrency: number;
    /** Handlers running now; `stop()` waits for them. */
    inFlight: Set<Promise<void>>;
    isStopping: () => boolean;
    handle: (msg: JsMsg) => Promise<void>;
  },
): Promise<void> {
  let slotFreed: (() => void) | undefined;
  for await (const msg of messages) {
    if (isStopping()) {
      // Pulled but not started: hand it straight back so another replica takes it now.
      msg.nak();
      continue;
    }
    while (inFlight.size >= concurrency) {
      await new Promise<void>((resolve) => {
        slotFreed = resolve;
      });
    }
    const task = handle(msg).finally(() => {
      inFlight.delete(task);
      slotFreed?.();
      slotFreed = undefined;
    });
    inFlight.add(task);
  }
}

/** Settles one message (ack, retry or dead-letter) and records its span and metrics. */
async function handleMessage(active: ActiveConsumer, msg: JsMsg): Promise<void> {
  // `info` and `headers` are getters that parse on every access: read them once.
  const info = msg.info;
  const parent = extractTraceContext(msg.headers);
  const span = startProcessSpan(msg, info, active.def.durable, parent);
  const started = performance.now();
  let type = "unknown";
  let outcome: Outcome = "ok";
  active.handling.add(msg);
  try {
    const validated = validateEvent(msg.data);
    if (!validated.ok) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: validated.error });
      outcome = await deadLetter(active, msg, type, "invalid", validated.error, span);
      return;
    }
    type = validated.event.type;
    outcome = await dispatch(active, msg, info, validated.event, { span, parent });
  } catch (err) {
    // Dead-lettering itself failed (NATS unreachable): let the server redeliver later.
    active.logger.error({ err, subject: msg.subject }, "could not settle message; it will be redelivered");
    msg.nak(backoffDelayMs(active.policy, info.deliveryCount));
    outcome = "retried";
  } finally {
    active.handling.delete(msg);
    span.end();
    active.counters.handled(type, outcome).inc();
    active.counters.duration(type).observe((performance.now() - started) / 1000);
  }
}

function startProcessSpan(msg: JsMsg, info: JsMsg["info"], durable: string, parent: Context): Span {
  return tracer.startSpan(
    `process ${msg.subject}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": msg.subject,
        "messaging.consumer.group.name": durable,
        "messaging.nats.stream.sequence": info.streamSequence,
        "messaging.nats.delivery_count": info.deliveryCount,
      },
    },
    parent,
  );
}

type Trace = { span: Span; parent: Context };

/** Runs the handler of a valid event, or dead-letters it when none can run it. */
async function dispatch(
  active: ActiveConsumer,
  msg: JsMsg,
  info: JsMsg["info"],
  event: EventOf<EventType>,
  { span, parent }: Trace,
): Promise<Outcome> {
  const { def, policy } = active;
  const delivery = info.deliveryCount;
  span.setAttribute("messaging.message.id", event.id);
  span.setAttribute("syncwell.event.type", event.type);
  const handler = def.handlers[event.type] as Handler<EventType> | undefined;
  if (!handler) {
    const error = `consumer ${def.durable} has no handler for ${event.type}`;
    return deadLetter(active, msg, event.type, "unhandled_type", error, span);
  }
  if (delivery > policy.maxDeliver) {
    // Delivered again after the limit: the process handling it died (or the ack was lost).
    const error = `gave up after ${delivery - 1} deliveries without an ack`;
    return deadLetter(active, msg, event.type, "handler", error, span);
  }
  const controller = new AbortController();
  const ctx = handlerContext(active, msg, info, event, controller.signal);
  try {
    const { durable } = def;
    const { timeoutMs } = active;
    await withTimeLimit(
      timeoutMs,
      () => new HandlerTimeoutError(durable, timeoutMs),
      controller,
      () => context.with(trace.setSpan(parent, span), () => handler(event, ctx)),
    );
    active.acks.add(msg);
    active.retries.succeeded();
    return "ok";
  } catch (err) {
    return handlerFailed(active, msg, delivery, event, err, span);
  }
}

function handlerContext(
  active: ActiveConsumer,
  msg: JsMsg,
  info: JsMsg["info"],
  event: EventOf<EventType>,
  signal: AbortSignal,
): HandlerContext {
  let childLogger: Logger | undefined;
  return {
    signal,
    consumer: active.def.durable,
    deliveryCount: info.deliveryCount,
    subject: msg.subject,
    streamSequence: info.streamSequence,
    // Built on first use: most handlers on the hot path never log.
    get logger() {
      childLogger ??= active.logger.child({ event_id: event.id, event_type: event.type });
      return childLogger;
    },
  };
}

/** A handler threw or ran out of time: dead-letter a permanent or last failure, retry the rest. */
async function handlerFailed(
  active: ActiveConsumer,
  msg: JsMsg,
  delivery: number,
  event: EventOf<EventType>,
  err: unknown,
  span: Span,
): Promise<Outcome> {
  const { def, policy } = active;
  const type = event.type;
  if (err instanceof HandlerTimeoutError) {
    // No more "still working" for it: the server may hand it to another replica after the delay.
    active.handling.delete(msg);
    active.deps.metrics.handlerTimeouts.inc({ type, consumer: def.durable });
  }
  const error = err as Error;
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  if (err instanceof PermanentError) {
    return deadLetter(active, msg, type, "permanent", error.message, span);
  }
  if (delivery >= policy.maxDeliver) {
    return deadLetter(active, msg, type, "handler", `${error.message} (after ${delivery} deliveries)`, span);
  }
  const delay = err instanceof RetryLaterError ? err.delayMs : backoffDelayMs(policy, delivery);
  msg.nak(delay);
  active.retries.failed(error, { event_id: event.id, event_type: type, delivery, retry_in_ms: delay });
  return "retried";
}

/**
 * `type` is the label of both counters: the event's type, or "unknown" for a message that did not
 * validate (its reason says why). The log line is written in the span of the message's delivery,
 * so it carries the message's trace_id.
 */
async function deadLetter(
  active: ActiveConsumer,
  msg: JsMsg,
  type: string,
  reason: DeadLetterReason,
  error: string,
  span: Span,
): Promise<Outcome> {
  const { deps, def } = active;
  await publishDeadLetter({ js: deps.js, naming: deps.naming, timeoutMs: deps.publishTimeoutMs }, msg, {
    consumer: def.durable,
    reason,
    error,
  });
  active.acks.add(msg);
  deps.metrics.deadLettered.inc({ type, consumer: def.durable, reason });
  context.with(trace.setSpan(context.active(), span), () =>
    active.logger.error(
      {
        subject: msg.subject,
        seq: msg.info.streamSequence,
        deliveries: msg.info.deliveryCount,
        reason,
        error,
      },
      "message dead-lettered",
    ),
  );
  return "dead_lettered";
}

/**
 * Runs `work` until it settles or `timeoutMs` passes; then aborts `controller` with the error
 * `timedOut` makes and rejects with it, without waiting for work that ignores its signal. The
 * error is made only then: its stack trace costs more than most handlers.
 */
async function withTimeLimit(
  timeoutMs: number,
  timedOut: () => Error,
  controller: AbortController,
  work: () => Promise<void>,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = timedOut();
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    await Promise.race([work(), expired]);
  } finally {
    clearTimeout(timer);
  }
}
