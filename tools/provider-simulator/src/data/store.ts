import type { ProviderId } from "../providers.ts";
import { type Account, accountProfile, type Participant } from "./account.ts";
import { type DataItem, platformProviders, ResourceDataset, type ResourceSpec } from "./dataset.ts";
import { resourceSpecs } from "./index.ts";
import { createRng, hashSeed } from "./seed.ts";

export const DEFAULT_DATA_ITEMS = { min: 25, max: 60 } as const;
export const DEFAULT_DATA_CACHE_SIZE = 20_000;

export type DataStoreOptions = {
  /** Initial items per resource: a seeded count in [min, max] for each account and resource. */
  items: { min: number; max: number };
  /** Accounts kept in memory; the least recently used unchanged one is dropped beyond this. */
  capacity: number;
  /** Generated data lies before this instant (epoch ms); fixed so regenerated data is identical. */
  epoch: number;
};

export type AddResult<T> = { ok: true; items: T[] } | { ok: false; status: 409; message: string };

/**
 * Accounts and their datasets, generated on first use from the account's seed and cached in an
 * LRU, so a benchmark with thousands of connections only pays for what it touches. Accounts the
 * control API changed are pinned: evicting them would lose data no seed can regenerate.
 */
export class DataStore {
  private readonly accounts = new Map<string, Account>();
  private options: DataStoreOptions;

  constructor(options: DataStoreOptions) {
    this.options = options;
  }

  get epoch(): number {
    return this.options.epoch;
  }

  /** Forget every account; later data is generated relative to `epoch`. */
  reset(epoch: number): void {
    this.accounts.clear();
    this.options = { ...this.options, epoch };
  }

  stats(): { accounts: number; datasets: number; pinned: number; capacity: number } {
    let pinned = 0;
    let datasets = 0;
    for (const account of this.accounts.values()) {
      if (account.pinned) pinned += 1;
      datasets += account.datasets.size;
    }
    return { accounts: this.accounts.size, datasets, pinned, capacity: this.options.capacity };
  }

  /** The account behind a connection, created on first use; marks it most recently used. */
  account(provider: ProviderId, connectionKey: string): Account {
    const key = `${provider}\u0000${connectionKey}`;
    const found = this.accounts.get(key);
    if (found !== undefined) {
      this.accounts.delete(key);
      this.accounts.set(key, found);
      return found;
    }
    const account: Account = {
      key,
      provider,
      connectionKey,
      profile: accountProfile(key),
      participants: [],
      datasets: new Map(),
      pinned: false,
    };
    this.accounts.set(key, account);
    this.evict();
    return account;
  }

  /**
   * Seeds every dataset the provider's platforms serve for an account now, rather than at the
   * account's first data request: a benchmark keeps that work out of what it times.
   */
  generateAll(provider: ProviderId, connectionKey: string): void {
    const account = this.account(provider, connectionKey);
    for (const spec of resourceSpecs.values()) {
      if (platformProviders[spec.platform].includes(provider)) this.dataset(account, spec);
    }
  }

  /** The resource's dataset for an account, seeded on first use. */
  dataset<T extends DataItem, I>(account: Account, spec: ResourceSpec<T, I>): ResourceDataset<T> {
    const found = account.datasets.get(spec.name);
    if (found !== undefined) return found as unknown as ResourceDataset<T>;
    const dataset = new ResourceDataset<T>();
    const rng = createRng(hashSeed(account.key, spec.name));
    const { min, max } = this.options.items;
    const count = rng.between(min, Math.max(min, max));
    dataset.load(spec.seed({ account, rng, epoch: this.options.epoch }, count));
    account.datasets.set(spec.name, dataset as unknown as ResourceDataset<DataItem>);
    return dataset;
  }

  /**
   * The platform got new data: `inputs` first, then `count` generated items, each later than
   * everything before it (spaced a second apart, the newest at about `now`). An input whose `id`
   * names an existing item changes it instead (a 409 where the resource's items never change).
   */
  add<T extends DataItem, I>(
    account: Account,
    spec: ResourceSpec<T, I>,
    inputs: readonly I[],
    count: number,
    now: number,
  ): AddResult<T> {
    const dataset = this.dataset(account, spec);
    const total = inputs.length + count;
    for (const input of inputs) {
      const id = inputId(input);
      if (id !== undefined && spec.update === undefined && dataset.get(id) !== undefined) {
        return { ok: false, status: 409, message: `${spec.name} ${id} already exists` };
      }
    }
    this.pin(account);
    let at = Math.max(now - (total - 1) * 1000, dataset.lastTime + 1000);
    const generated = spec.input.parse({});
    const out: T[] = [];
    for (let i = 0; i < total; i += 1) {
      const input = i < inputs.length ? (inputs[i] as I) : generated;
      const ctx = {
        account,
        rng: createRng(hashSeed(account.key, spec.name, dataset.seq + 1)),
        epoch: this.options.epoch,
      };
      const id = inputId(input);
      const existing = id === undefined ? undefined : dataset.get(id);
      const item =
        existing !== undefined && spec.update !== undefined
          ? spec.update(ctx, existing, input, at)
          : spec.create(ctx, input, at);
      out.push(dataset.put(item));
      at += 1000;
    }
    return { ok: true, items: out };
  }

  /** Replaces the account's correspondents; existing items show them from now on. */
  setParticipants(account: Account, participants: Participant[]): void {
    this.pin(account);
    account.participants = participants;
  }

  /** Expires every cursor handed out for the resource (Gmail history ids, Calendar sync tokens). */
  expireCursors<T extends DataItem, I>(account: Account, spec: ResourceSpec<T, I>): void {
    this.pin(account);
    this.dataset(account, spec).expireCursors();
  }

  private pin(account: Account): void {
    account.pinned = true;
  }

  private evict(): void {
    if (this.accounts.size <= this.options.capacity) return;
    for (const [key, account] of this.accounts) {
      if (this.accounts.size <= this.options.capacity) return;
      if (!account.pinned) this.accounts.delete(key);
    }
  }
}

/** The id an input item names (to change that item), if any. */
function inputId(input: unknown): string | undefined {
  if (typeof input !== "object" || input === null || !("id" in input)) return undefined;
  return typeof input.id === "string" ? input.id : undefined;
}
