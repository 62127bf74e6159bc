import type { Socket } from "node:net";
import type { FastifyReply } from "fastify";
import type { SimulatorState } from "./state.ts";

/** What every route of one simulator app shares. */
export type SimulatorContext = {
  state: SimulatorState;
  /** Aborted when the app starts closing: pending delays end early, hung requests are dropped. */
  closing: AbortSignal;
  /** Sockets of requests deliberately left unanswered (fault `timeout`). */
  hanging: Set<Socket>;
};

/** Timer-based delay (never a busy wait) that ends early when the app closes. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Never answers: takes the response away from Fastify and waits until the client gives up (its
 * socket closes) or the app closes, when the socket is destroyed so nothing leaks.
 */
export function hang(reply: FastifyReply, ctx: SimulatorContext): Promise<void> {
  reply.hijack();
  const socket = reply.raw.socket;
  // The client may already have left (e.g. during a latency fault): then there is nothing to wait for.
  if (socket === null || socket.destroyed || ctx.closing.aborted) {
    socket?.destroy();
    return Promise.resolve();
  }
  ctx.hanging.add(socket);
  return new Promise((resolve) => {
    reply.raw.once("close", () => {
      ctx.hanging.delete(socket);
      resolve();
    });
  });
}
