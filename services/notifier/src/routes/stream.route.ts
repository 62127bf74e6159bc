import type { OutgoingHttpHeaders } from "node:http";
import { parseInput, sendError } from "@syncwell/runtime";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { StreamPosition } from "../domain/stream-position.ts";
import { latestSeq } from "../repositories/user-notifications.repository.ts";
import { userOf } from "./access-token.ts";
import type { NotificationRoutesDeps } from "./deps.ts";
import { LiveStream } from "./live-stream.ts";

const DEFAULT_HEARTBEAT_MS = 15_000;

/** How long a browser's EventSource waits before reconnecting. */
const RETRY_MS = 2_000;

const headers = z.object({
  "last-event-id": z
    .string()
    .transform((value, ctx) => {
      const position = StreamPosition.parse(value);
      if (position) return position;
      ctx.addIssue({ code: "custom", message: "is not an event id sent by this stream" });
      return z.NEVER;
    })
    .optional(),
});

/**
 * GET /v1/notifications/stream — Server-Sent Events of the token's user's notifications: each new
 * or changed one as an event `notification` (its data the notification as the list shows it),
 * from whichever replica made the change. With `Last-Event-ID` it first sends what changed after
 * that event; without (or with one ahead of every change of the user), it starts at the user's
 * latest change (list first, then open the stream).
 * Comment lines keep an idle stream open. A user holds at most NOTIFY_STREAMS_PER_USER streams on
 * one replica; one more is a 429.
 */
export function streamRoute(app: FastifyInstance, deps: NotificationRoutesDeps): void {
  app.get("/v1/notifications/stream", async (request, reply) => {
    const { "last-event-id": resumeFrom } = parseInput(headers, request.headers, "headers");
    const userId = userOf(request);
    const latest = await latestSeq(deps.db, userId);
    // An id names changes the stream read, so never one after the user's latest. One that does
    // (made up, or from before a restore) would hold the stream at a seq no change reaches:
    // it starts at the latest change instead.
    const ahead = resumeFrom !== undefined && resumeFrom.highest > latest;
    if (ahead) {
      request.log.info(
        { lastEventId: String(resumeFrom), latestSeq: String(latest) },
        "a Last-Event-ID ahead of the user's latest change: the stream starts at the latest",
      );
    }
    const position = resumeFrom && !ahead ? resumeFrom : StreamPosition.at(latest);
    const stream = new LiveStream(
      {
        db: deps.db,
        userId,
        raw: reply.raw,
        log: request.log,
        heartbeatMs: deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
        onClose: () => deps.streams.close(userId, stream),
      },
      position,
    );
    if (!(await deps.streams.open(userId, stream))) {
      stream.stop();
      return sendError(reply, 429, {
        error: "too_many_requests",
        message: "this user has as many live streams open as one replica allows; close one first",
      });
    }
    reply.hijack();
    // The client left while the stream was being opened.
    if (stream.isClosed) {
      deps.streams.close(userId, stream);
      return reply;
    }
    reply.raw.writeHead(200, {
      ...(reply.getHeaders() as OutgoingHttpHeaders),
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      // Proxies such as nginx would otherwise buffer the events.
      "x-accel-buffering": "no",
    });
    reply.raw.write(`retry: ${RETRY_MS}\n\n`);
    stream.start();
    return reply;
  });
}
