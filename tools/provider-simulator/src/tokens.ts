import { randomFillSync } from "node:crypto";

// One syscall per 8 KiB instead of one per token: under benchmark load (thousands of tokens per
// second) a syscall per token is a large share of the simulator's work (docs/decisions/0014).
const POOL_SIZE = 8192;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

function take(bytes: number): Buffer {
  if (bytes > POOL_SIZE) return randomFillSync(Buffer.allocUnsafe(bytes));
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = pool.subarray(offset, offset + bytes);
  offset += bytes;
  return out;
}

/** An opaque random token (192 bits, base64url) with an optional provider-looking prefix. */
export function randomToken(prefix = "", bytes = 24): string {
  return prefix + take(bytes).toString("base64url");
}
