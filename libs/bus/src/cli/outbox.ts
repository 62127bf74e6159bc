// Set-aside outbox events (`npm run outbox`): rows a relay stopped retrying after they failed to
// publish too often. Lists them with their reasons, or puts them back in line once the cause is
// fixed (a deployment whose contracts accept them again, a stream with a larger message limit).
import { parseDatabaseUrl, runCli, UsageError } from "@syncwell/db";
import pg from "pg";
import { OUTBOX_CHANNEL } from "../outbox/relay.ts";
import { listSetAside, retrySetAside } from "../outbox/set-aside.repository.ts";

const usage = `Usage: npm run outbox -- [--source <service>] [--retry <event id> ... | --retry-all]

Lists the outbox events set aside after failing to publish too often (id, type, source, attempts,
when, and why), or puts them back in line for their service's relay.

  --source <service>  only the events written by this service (scheduler, token-service, poller, …)
  --retry <id>        put this event back in line (repeatable)
  --retry-all         put every listed event back in line
  -h, --help          show this help

Needs DATABASE_URL. Exit code 0 when nothing is set aside (or all were put back), 3 otherwise.`;

runCli({
  usage,
  options: {
    source: { type: "string" },
    retry: { type: "string", multiple: true },
    "retry-all": { type: "boolean", default: false },
  },
  failure: "outbox command failed",
  async run(args) {
    const url = parseDatabaseUrl(process.env.DATABASE_URL, "DATABASE_URL");
    const ids = args.retry ?? [];
    if (ids.length > 0 && args["retry-all"])
      throw new UsageError("give --retry <id> or --retry-all, not both");
    const bad = ids.filter(
      (id) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id),
    );
    if (bad.length > 0) throw new UsageError(`--retry takes event ids (UUIDs); not one: ${bad.join(", ")}`);
    const client = new pg.Client({ connectionString: url.toString(), application_name: "outbox-cli" });
    await client.connect();
    try {
      const filter = { source: args.source };
      if (ids.length > 0 || args["retry-all"]) {
        const retried = await retrySetAside(client, { ...filter, ids: args["retry-all"] ? undefined : ids });
        await client.query("SELECT pg_notify($1, '')", [OUTBOX_CHANNEL]);
        console.log(`${retried.length} event(s) put back in line: ${retried.join(", ") || "(none)"}`);
        const missing = ids.filter((id) => !retried.includes(id));
        if (missing.length > 0) console.log(`not set aside (or unknown): ${missing.join(", ")}`);
      }
      const rows = await listSetAside(client, filter);
      if (rows.length === 0) {
        console.log("no outbox event is set aside");
        return 0;
      }
      console.log(`${rows.length} outbox event(s) set aside:`);
      for (const r of rows) {
        console.log(
          `${r.id}  ${r.type}  source=${r.source}  attempts=${r.attempts}  set aside ${r.setAsideAt.toISOString()}\n    ${r.reason}`,
        );
      }
      return 3;
    } finally {
      await client.end();
    }
  },
});
