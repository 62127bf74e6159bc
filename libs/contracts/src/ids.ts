import { randomFillSync } from "node:crypto";
import { V7Generator } from "uuidv7";

/**
 * Cryptographically random numbers drawn 4 KiB at a time. The uuidv7 package's default draws 32
 * bytes per call (one `getRandomValues` per four ids), and the poller makes an id for every record
 * and communication event it stores: one draw per 4 KiB keeps that off its hot path.
 */
class PooledRandom {
  private readonly pool = new Uint32Array(1_024);
  private cursor = this.pool.length;

  nextUint32(): number {
    if (this.cursor === this.pool.length) {
      randomFillSync(this.pool);
      this.cursor = 0;
    }
    return this.pool[this.cursor++] as number;
  }
}

const generator = new V7Generator(new PooledRandom());

/**
 * A new UUIDv7 (RFC 9562): time-ordered, so rows keyed by it are appended to their index instead of
 * scattered over it, and monotonic within this process. Every id Syncwell makes comes from here.
 */
export function uuidv7(): string {
  return generator.generate().toString();
}

/** The nil UUID (RFC 9562), below every other: the start of a keyset walk in id order. */
export const NIL_UUID = "00000000-0000-0000-0000-000000000000";
