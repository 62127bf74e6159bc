import { connect } from "node:net";

export type RawExchange = {
  /** Everything the server wrote, as latin1 text. */
  text: string;
  /** Status code of the first response line, or undefined when the server wrote nothing. */
  status: number | undefined;
  /** The JSON body of the first response, when it has one. */
  json: unknown;
  /** The server closed the connection (rather than the wait running out). */
  closedByServer: boolean;
  /** Time from connecting until the server closed, or until the wait ran out. */
  elapsedMs: number;
};

/**
 * Sends bytes over a plain TCP connection, as a hostile or broken client would (a body that stops
 * after one byte, headers that never end, oversized headers, bytes that are not HTTP), and
 * collects what the server answers until it closes the connection or `waitMs` passes.
 */
export async function rawHttp(
  baseUrl: string,
  data: string | Buffer,
  options: { waitMs?: number } = {},
): Promise<RawExchange> {
  const { hostname, port } = new URL(baseUrl);
  const waitMs = options.waitMs ?? 5_000;
  const socket = connect({ host: hostname, port: Number(port) });
  const started = Date.now();
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  const closedByServer = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), waitMs);
    socket.on("connect", () => socket.write(data));
    // A reset after the server answered and destroyed the socket counts as its close.
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  const elapsedMs = Date.now() - started;
  socket.destroy();
  const text = Buffer.concat(chunks).toString("latin1");
  const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
  const bodyStart = text.indexOf("\r\n\r\n");
  let json: unknown;
  try {
    json = bodyStart >= 0 ? JSON.parse(text.slice(bodyStart + 4)) : undefined;
  } catch {
    json = undefined;
  }
  return { text, status: status ? Number(status) : undefined, json, closedByServer, elapsedMs };
}
