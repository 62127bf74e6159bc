// The frame of the one-shot commands (`npm run db:migrate`, `npm run reencrypt`): parses the
// arguments, answers --help, runs the command and turns its outcome into the exit code: 0 or what
// the command returns, 2 for a usage error (message and usage on stderr), 1 when it throws.
// It lives here rather than in @syncwell/runtime: runtime depends on this package, so the migrate
// command below could not import it from there.
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";

const helpOption = { help: { type: "boolean", short: "h", default: false } } as const;

/** The parsed flags: the command's own options plus `help`. */
export type CliArgs<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O & typeof helpOption; allowPositionals: false }>
>["values"];

/** Thrown by a command for arguments it rejects: printed with the usage, exit code 2. */
export class UsageError extends Error {}

export interface CliCommand<O extends ParseArgsOptionsConfig> {
  /** Printed for --help and after every usage error. */
  usage: string;
  /** The command's flags; -h/--help is added. No positionals. */
  options: O;
  /** Starts the line printed when `run` throws: `<failure>: <error message>`. */
  failure: string;
  /** The command itself; resolves to the exit code. */
  run(args: CliArgs<O>): Promise<number>;
}

/** Runs the command and sets process.exitCode; never rejects. */
export async function runCli<const O extends ParseArgsOptionsConfig>(command: CliCommand<O>): Promise<void> {
  process.exitCode = await main(command).catch((err: unknown) => {
    console.error(`${command.failure}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  });
}

async function main<O extends ParseArgsOptionsConfig>({
  usage,
  options,
  run,
}: CliCommand<O>): Promise<number> {
  const usageError = (err: unknown) => {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return 2;
  };
  let args: CliArgs<O> & { help: boolean }; // `help` spelled out: TS cannot see it in the generic
  try {
    args = parseArgs({ options: { ...options, ...helpOption }, allowPositionals: false })
      .values as typeof args;
  } catch (err) {
    return usageError(err); // unknown flag, missing value: worded for the user by parseArgs
  }
  if (args.help) {
    console.log(usage);
    return 0;
  }
  try {
    return await run(args);
  } catch (err) {
    if (err instanceof UsageError) return usageError(err);
    throw err;
  }
}
