/**
 * Where a user's live stream stands, and the `Last-Event-ID` it resumes from.
 *
 * Every change of a notification takes a new `seq` from one sequence, but seqs are taken when a
 * row is written, not when its transaction commits: seq 41 may become visible after seq 42 has
 * been sent. A stream therefore keeps two things: `settled`, below which every change has been
 * sent, and `above`, the seqs it sent above `settled`. It reads `seq > settled` and sends only
 * seqs not in `above` (a seq names one version of one notification, so this is the dedup by id
 * and seq). `settled` moves up to the horizon: seqs observed long enough ago (SETTLE_MS) that
 * their transactions have ended, committed or not.
 *
 * The event id is the position: `settled`, then the seqs above it, dot-separated
 * (`1040.1045.1047`); once a stream has settled past its last send, a plain seq. A client that
 * resumes from it is sent what it missed and nothing it had.
 */

/** A write of a notification commits (or aborts) within this time of taking its seq. */
export const SETTLE_MS = 5_000;

/**
 * Seqs sent above `settled` that an event id names; beyond them the id names `settled` alone,
 * and a resumed stream may send those again (never fewer).
 */
export const MAX_NAMED_ABOVE = 32;

const SEQ = /^\d{1,19}$/;
const MAX_SEQ = 2n ** 63n - 1n;

export class StreamPosition {
  settled: bigint;
  private readonly above: Set<bigint>;

  private constructor(settled: bigint, above: Set<bigint>) {
    this.settled = settled;
    this.above = above;
  }

  static at(settled: bigint): StreamPosition {
    return new StreamPosition(settled, new Set());
  }

  /** A `Last-Event-ID` this API gave (or a plain seq), or null when it is not one. */
  static parse(id: string): StreamPosition | null {
    const parts = id.trim().split(".");
    if (parts.length > MAX_NAMED_ABOVE + 1 || !parts.every((part) => SEQ.test(part))) return null;
    const [settled, ...above] = parts.map(BigInt);
    if (settled === undefined || settled > MAX_SEQ) return null;
    const named = new Set(above);
    if (named.size < above.length || above.some((seq) => seq <= settled || seq > MAX_SEQ)) return null;
    return new StreamPosition(settled, named);
  }

  /** The rows read after `settled` that the client has not been sent; they count as sent. */
  take<R extends { seq: bigint }>(rows: readonly R[]): R[] {
    const fresh = rows.filter((row) => row.seq > this.settled && !this.above.has(row.seq));
    for (const row of fresh) this.above.add(row.seq);
    return fresh;
  }

  /** Whether the client has been sent the change with this seq (or everything up to it). */
  has(seq: bigint): boolean {
    return seq <= this.settled || this.above.has(seq);
  }

  /** Every change up to `horizon` has been read since it settled: forget what was sent below. */
  settle(horizon: bigint): boolean {
    if (horizon <= this.settled) return false;
    this.settled = horizon;
    for (const seq of this.above) if (seq <= horizon) this.above.delete(seq);
    return true;
  }

  /** The highest seq the position names: everything up to it, or one sent above that. */
  get highest(): bigint {
    let highest = this.settled;
    for (const seq of this.above) if (seq > highest) highest = seq;
    return highest;
  }

  /** Whether seqs were sent that a later read must confirm before the id is plain. */
  get unsettled(): boolean {
    return this.above.size > 0;
  }

  /** The event id. */
  toString(): string {
    if (this.above.size === 0 || this.above.size > MAX_NAMED_ABOVE) return String(this.settled);
    return [this.settled, ...[...this.above].sort((a, b) => (a < b ? -1 : 1))].join(".");
  }
}

/**
 * The seqs a stream has seen and when: any seq at or below one seen at time t was taken before t.
 * `at(now)` is the highest seen SETTLE_MS or more before `now`, below which all has committed.
 * A row also tells when its seq was taken at the latest: within a write's time of its
 * `updated_at` (its transaction's start), which `takenBy` turns into such a time.
 */
export class Horizon {
  private seen: { at: number; seq: bigint }[] = [];
  private reached = 0n;
  private readonly settleMs: number;

  constructor(settleMs = SETTLE_MS) {
    this.settleMs = settleMs;
  }

  /**
   * When a row written in a transaction that began at `updatedAt` took its seq at the latest: a
   * write commits within SETTLE_MS, plus as much again for the database's clock against ours.
   */
  takenBy(updatedAt: Date): number {
    return updatedAt.getTime() + 2 * this.settleMs;
  }

  observe(at: number, seq: bigint): void {
    if (seq <= this.reached) return;
    // An earlier sighting of a higher seq says more: this one adds nothing.
    if (this.seen.some((s) => s.at <= at && s.seq >= seq)) return;
    this.seen = this.seen.filter((s) => !(s.at >= at && s.seq <= seq));
    this.seen.push({ at, seq });
  }

  at(now: number): bigint {
    const due = this.seen.filter((s) => s.at <= now - this.settleMs);
    if (due.length === 0) return this.reached;
    for (const s of due) if (s.seq > this.reached) this.reached = s.seq;
    this.seen = this.seen.filter((s) => s.at > now - this.settleMs && s.seq > this.reached);
    return this.reached;
  }

  /** When every observation so far has settled, if any is still to. */
  allSettledAt(): number | undefined {
    if (this.seen.length === 0) return undefined;
    return Math.max(...this.seen.map((s) => s.at)) + this.settleMs;
  }
}
