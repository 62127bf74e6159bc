import pino from "pino";

/** One JSON line a logger wrote: pino's numeric level (30 info, 40 warn, 50 error), message, fields. */
export type LogLine = { level: number; msg: string; [field: string]: unknown };

/** A pino logger whose lines the test reads back, parsed, in the order they were written. */
export function capturingLogger(level: pino.Level = "info"): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}
