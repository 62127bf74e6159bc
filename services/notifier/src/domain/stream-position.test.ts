import { describe, expect, it } from "vitest";
import { Horizon, MAX_NAMED_ABOVE, StreamPosition } from "./stream-position.ts";

const rows = (...seqs: number[]) => seqs.map((seq) => ({ seq: BigInt(seq) }));
const seqsOf = (list: { seq: bigint }[]) => list.map((row) => Number(row.seq));

describe("StreamPosition", () => {
  it("sends each seq above its settled point once, and names them in its id", () => {
    const position = StreamPosition.at(10n);
    expect(seqsOf(position.take(rows(12, 15)))).toEqual([12, 15]);
    expect(String(position)).toBe("10.12.15");
    // Seq 11 committed late: read again from 10, only 11 is new.
    expect(seqsOf(position.take(rows(11, 12, 15)))).toEqual([11]);
    expect(String(position)).toBe("10.11.12.15");
    expect(position.unsettled).toBe(true);
  });

  it("forgets what it sent below a horizon, and its id becomes a plain seq", () => {
    const position = StreamPosition.at(10n);
    position.take(rows(12, 15));
    expect(position.settle(12n)).toBe(true);
    expect(String(position)).toBe("12.15");
    expect(position.settle(11n)).toBe(false);
    position.settle(15n);
    expect(String(position)).toBe("15");
    expect(position.unsettled).toBe(false);
  });

  it("knows which seqs it has sent: those at or below its settled point and those it took", () => {
    const position = StreamPosition.at(10n);
    position.take(rows(12, 15));
    expect([10, 11, 12, 13, 15, 16].map((seq) => position.has(BigInt(seq)))).toEqual([
      true,
      false,
      true,
      false,
      true,
      false,
    ]);
    position.settle(13n);
    expect(position.has(11n)).toBe(true);
  });

  it("resumes from its id: a late commit below a sent seq is sent, the sent seq is not", () => {
    const before = StreamPosition.at(10n);
    before.take(rows(15));
    const resumed = StreamPosition.parse(String(before));
    expect(resumed).not.toBeNull();
    expect(seqsOf(resumed?.take(rows(13, 15, 16)) ?? [])).toEqual([13, 16]);
  });

  it("names as its highest seq the settled point or the highest sent above it", () => {
    expect(StreamPosition.parse("1040")?.highest).toBe(1040n);
    expect(StreamPosition.parse("1040.1047.1045")?.highest).toBe(1047n);
  });

  it("parses only ids it could have given", () => {
    expect(String(StreamPosition.parse("42"))).toBe("42");
    expect(String(StreamPosition.parse(" 42.50 "))).toBe("42.50");
    for (const bad of [
      "",
      "x",
      "-1",
      "2.1",
      "1..2",
      "1.3.3",
      "5.5",
      "3.9.x",
      "1e3",
      "99999999999999999999",
      "9223372036854775808",
    ]) {
      expect(StreamPosition.parse(bad), bad).toBeNull();
    }
    const long = ["1", ...Array.from({ length: MAX_NAMED_ABOVE + 1 }, (_, i) => String(i + 2))].join(".");
    expect(StreamPosition.parse(long)).toBeNull();
  });

  it("names only its settled point once too many seqs are unsettled (a resume may repeat, never skip)", () => {
    const position = StreamPosition.at(0n);
    position.take(rows(...Array.from({ length: MAX_NAMED_ABOVE + 1 }, (_, i) => i + 1)));
    expect(String(position)).toBe("0");
  });
});

describe("Horizon", () => {
  it("is the highest seq seen at least the settle time ago", () => {
    const horizon = new Horizon(1_000);
    horizon.observe(0, 5n);
    horizon.observe(500, 9n);
    horizon.observe(600, 7n); // lower than one seen before: says nothing new
    expect(horizon.at(999)).toBe(0n);
    expect(horizon.allSettledAt()).toBe(1_500);
    expect(horizon.at(1_000)).toBe(5n);
    expect(horizon.allSettledAt()).toBe(1_500);
    expect(horizon.at(5_000)).toBe(9n);
    expect(horizon.allSettledAt()).toBeUndefined();
  });

  it("takes sightings out of time order: an old row settles its seq at once", () => {
    const horizon = new Horizon(1_000);
    horizon.observe(10_000, 50n);
    // A row written long ago: its seq was taken by two settle times after its transaction began.
    horizon.observe(horizon.takenBy(new Date(2_000)), 40n);
    expect(horizon.at(5_000)).toBe(40n);
    expect(horizon.at(11_000)).toBe(50n);
    // Lower seqs and later sightings of lower seqs add nothing.
    horizon.observe(0, 30n);
    expect(horizon.allSettledAt()).toBeUndefined();
  });
});
