import type { z } from "zod";
import type { ProviderId } from "../providers.ts";
import type { Account } from "./account.ts";
import type { Rng } from "./seed.ts";

/** The platforms whose data APIs the simulator serves (the first segment of their paths). */
export const dataPlatforms = ["spotify", "youtube", "github", "discord", "gmail", "calendar"] as const;
export type DataPlatform = (typeof dataPlatforms)[number];

/** Whose access tokens each platform accepts: Gmail, Calendar and YouTube share one Google grant. */
export const platformProviders: Readonly<Record<DataPlatform, readonly ProviderId[]>> = {
  spotify: ["spotify"],
  youtube: ["google"],
  github: ["github", "github-app"],
  discord: ["discord"],
  gmail: ["google"],
  calendar: ["google"],
};

/**
 * One record of a resource. `seq` orders changes within the resource (it is what history ids and
 * sync tokens are made of); `time` is the platform timestamp that orders it for users (played at,
 * received, liked, created…).
 */
export type DataItem = { id: string; seq: number; time: number };

/** What a generator may use: the account (profile, participants), its own RNG and the data epoch. */
export type GenContext = { account: Account; rng: Rng; epoch: number };

/**
 * The one shape every platform file fills in for each resource it serves: how the initial dataset
 * is seeded, how the control API adds (or changes) items, and how an item looks in the API.
 * Methods (not function properties) so specs of different item types share one registry.
 */
export type ResourceSpec<T extends DataItem, Input> = {
  /** `<platform>.<resource>`, as the request log and the `data.ingested` contract name it. */
  name: string;
  platform: DataPlatform;
  /** Schema of one item in `POST /_control/data/:platform/:resource` `items`. */
  input: z.ZodType<Input>;
  /** Whether the resource hands out cursors the control API can expire (history ids, sync tokens). */
  expirable: boolean;
  /** The initial dataset, oldest change first, every `time` before `ctx.epoch`. */
  seed(ctx: GenContext, count: number): Array<Omit<T, "seq">>;
  /** A new item the platform just got, at time `at` (later than every existing item). */
  create(ctx: GenContext, input: Input, at: number): Omit<T, "seq">;
  /** A change to an existing item (same id); absent = the resource's items never change. */
  update?(ctx: GenContext, existing: T, input: Input, at: number): Omit<T, "seq">;
  /** The item as the platform's API shows it (control responses echo added items this way). */
  render(account: Account, item: T): unknown;
};

/** Every control-API input item may name an existing item to change it (where the resource allows). */
export type DataInput = { id?: string | undefined };

export type AnyResourceSpec = ResourceSpec<DataItem, DataInput>;

/**
 * The items of one resource of one account, in change order (ascending `seq`). Every change
 * appends: an updated item moves to the end with a new seq, so "what changed since cursor X" is a
 * binary search, and keyset pagination over seq never skips or repeats an item while data changes.
 */
export class ResourceDataset<T extends DataItem> {
  private readonly list: T[] = [];
  private byId: Map<string, T> | null = null;
  private readonly views = new Map<string, readonly T[]>();
  /** Seq of the latest change (0 = empty). */
  seq = 0;
  /** Cursors older than this are expired (the platform forgot that history). */
  floor = 0;

  /** Ascending seq. */
  get items(): readonly T[] {
    return this.list;
  }

  get size(): number {
    return this.list.length;
  }

  /** Latest item time (0 when empty): new items are placed after it. */
  get lastTime(): number {
    let max = 0;
    for (const item of this.list) if (item.time > max) max = item.time;
    return max;
  }

  get(id: string): T | undefined {
    if (this.byId === null) this.byId = new Map(this.list.map((item) => [item.id, item]));
    return this.byId.get(id);
  }

  /** Loads the initial items (ids unique, oldest first) without building the id index. */
  load(items: ReadonlyArray<Omit<T, "seq">>): void {
    for (const item of items) {
      this.seq += 1;
      this.list.push({ ...item, seq: this.seq } as T);
    }
  }

  /** Appends a new item, or moves a changed one (same id) to the end with a new seq. */
  put(item: Omit<T, "seq">): T {
    const existing = this.get(item.id);
    if (existing !== undefined) this.list.splice(this.list.indexOf(existing), 1);
    this.seq += 1;
    const stored = { ...item, seq: this.seq } as T;
    this.list.push(stored);
    this.byId?.set(stored.id, stored);
    this.views.clear();
    return stored;
  }

  /** Items changed after `seq`, oldest change first. */
  changedSince(seq: number): readonly T[] {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.list[mid] as T).seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? this.list : this.list.slice(lo);
  }

  /** Newest change first (most platforms list newest first). */
  newestFirst(): readonly T[] {
    return this.view("newest-first", (items) => [...items].reverse());
  }

  /** A derived ordering, cached until the next change. */
  view(key: string, build: (items: readonly T[]) => readonly T[]): readonly T[] {
    let cached = this.views.get(key);
    if (cached === undefined) {
      cached = build(this.list);
      this.views.set(key, cached);
    }
    return cached;
  }

  /** Every cursor handed out so far becomes invalid; a fresh full sync gets a valid one. */
  expireCursors(): void {
    this.seq += 1;
    this.floor = this.seq;
  }

  /** Whether a cursor taken at `seq` can still be resumed from. */
  isLive(seq: number): boolean {
    return seq >= this.floor && seq <= this.seq;
  }
}
