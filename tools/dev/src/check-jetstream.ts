/**
 * `node tools/dev/src/check-jetstream.ts [nats://host:port]`: exit 0 when the server answers
 * JetStream API requests, 1 when it is up without JetStream, 2 when it cannot be reached.
 * A TCP check alone passes for a server started without `-js`, whose streams would then fail.
 * Used by scripts/ensure-infra.sh.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

const url = process.argv[2] ?? process.env.SYNCWELL_TEST_NATS_URL ?? "nats://127.0.0.1:4222";

async function check(): Promise<number> {
  let nc: Awaited<ReturnType<typeof connect>>;
  try {
    nc = await connect({ servers: url, timeout: 3_000, reconnect: false, name: "syncwell-ensure-infra" });
  } catch (error) {
    console.error(`cannot connect to NATS: ${(error as Error).message}`);
    return 2;
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: 3_000 });
    const info = await jsm.getAccountInfo();
    console.log(`JetStream ok (${info.streams} streams, ${info.consumers} consumers)`);
    return 0;
  } catch (error) {
    console.error(`NATS answers but JetStream does not: ${(error as Error).message}`);
    return 1;
  } finally {
    await nc.close();
  }
}

process.exitCode = await check();
