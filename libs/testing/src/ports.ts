import { createServer } from "node:net";

/**
 * A TCP port free on 127.0.0.1 right now, for a service under test (services' HTTP_PORT must be a
 * real port: 0 is refused by their config). Another process could take it before the service
 * binds; on a test machine that race is rare enough not to matter.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
