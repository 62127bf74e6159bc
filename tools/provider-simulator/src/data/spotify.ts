import type {
  Context,
  ExternalIds,
  PlayHistory,
  RecentlyPlayedTracksPage,
  SimplifiedAlbum,
  Track,
} from "@spotify/web-api-ts-sdk";
import { z } from "zod";
import type { DataItem, ResourceSpec } from "./dataset.ts";
import { BASE62, createRng, HEX, hashSeed, MINUTE, timeline } from "./seed.ts";
import { isoString } from "./time.ts";
import { ADJECTIVES, FIRST_NAMES, LAST_NAMES, NOUNS } from "./words.ts";

const API = "https://api.spotify.com/v1";
const OPEN = "https://open.spotify.com";
/** Spotify only remembers a user's last 50 plays. */
export const RECENTLY_PLAYED_WINDOW = 50;

type CatalogTrack = {
  id: string;
  name: string;
  artist: { id: string; name: string };
  album: { id: string; name: string; releaseDate: string; totalTracks: number; image: string };
  durationMs: number;
  popularity: number;
  explicit: boolean;
  trackNumber: number;
  isrc: string;
};

const CATALOG_SIZE = 240;
let catalog: CatalogTrack[] | null = null;

/** One shared, seeded catalog: every account plays tracks from it, so items only store an index. */
function tracks(): CatalogTrack[] {
  if (catalog !== null) return catalog;
  const rng = createRng(hashSeed("spotify-catalog"));
  const artists = Array.from({ length: 40 }, () => ({
    id: rng.string(BASE62, 22),
    name: rng.chance(0.5)
      ? `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`
      : `The ${cap(rng.pick(ADJECTIVES))} ${cap(rng.pick(NOUNS))}s`,
  }));
  catalog = Array.from({ length: CATALOG_SIZE }, () => {
    const year = rng.between(1975, 2025);
    return {
      id: rng.string(BASE62, 22),
      name: `${cap(rng.pick(ADJECTIVES))} ${cap(rng.pick(NOUNS))}`,
      artist: rng.pick(artists),
      album: {
        id: rng.string(BASE62, 22),
        name: `${cap(rng.pick(NOUNS))} of ${cap(rng.pick(NOUNS))}`,
        releaseDate: `${year}-${pad(rng.between(1, 12))}-${pad(rng.between(1, 28))}`,
        totalTracks: rng.between(6, 16),
        image: rng.string(HEX, 24),
      },
      durationMs: rng.between(120_000, 360_000),
      popularity: rng.between(5, 95),
      explicit: rng.chance(0.15),
      trackNumber: rng.between(1, 12),
      isrc: `US${rng.string("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 3)}${String(year).slice(2)}${rng.string("0123456789", 5)}`,
    };
  });
  return catalog;
}

function cap(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/**
 * A track as the Web API sends it in plays and top tracks. The SDK's `Track` demands more than
 * that: its album is a `SimplifiedAlbum` with `album_group`, `copyrights`, `external_ids`,
 * `genres`, `label` and `popularity`, which only a full album (`GET /albums/{id}`) has, and its
 * `external_ids` want `upc` and `ean`, which a track does not have (only `isrc`); and it wants
 * `track` and `episode` flags, which only playlist items carry.
 */
export type SentTrack = Omit<Track, "album" | "external_ids" | "track" | "episode"> & {
  album: Omit<
    SimplifiedAlbum,
    "album_group" | "copyrights" | "external_ids" | "genres" | "label" | "popularity"
  >;
  external_ids: Pick<ExternalIds, "isrc">;
};

const rendered = new Map<number, SentTrack>();

/**
 * A track object as Spotify returns it, typed with Spotify's SDK types (a dev dependency, types
 * only) so that tsc holds it to them; shared between responses (built once per catalog entry).
 */
function renderTrack(index: number): SentTrack {
  const cached = rendered.get(index);
  if (cached !== undefined) return cached;
  const t = tracks()[index % CATALOG_SIZE] as CatalogTrack;
  const artist = {
    external_urls: { spotify: `${OPEN}/artist/${t.artist.id}` },
    href: `${API}/artists/${t.artist.id}`,
    id: t.artist.id,
    name: t.artist.name,
    type: "artist",
    uri: `spotify:artist:${t.artist.id}`,
  };
  const image = (size: number, code: string): { url: string; height: number; width: number } => ({
    url: `https://i.scdn.co/image/ab67616d0000${code}${t.album.image}`,
    height: size,
    width: size,
  });
  const track: SentTrack = {
    album: {
      album_type: "album",
      total_tracks: t.album.totalTracks,
      available_markets: ["DE", "GB", "US"],
      external_urls: { spotify: `${OPEN}/album/${t.album.id}` },
      href: `${API}/albums/${t.album.id}`,
      id: t.album.id,
      images: [image(640, "b273"), image(300, "1e02"), image(64, "4851")],
      name: t.album.name,
      release_date: t.album.releaseDate,
      release_date_precision: "day",
      type: "album",
      uri: `spotify:album:${t.album.id}`,
      artists: [artist],
    },
    artists: [artist],
    available_markets: ["DE", "GB", "US"],
    disc_number: 1,
    duration_ms: t.durationMs,
    explicit: t.explicit,
    external_ids: { isrc: t.isrc },
    external_urls: { spotify: `${OPEN}/track/${t.id}` },
    href: `${API}/tracks/${t.id}`,
    id: t.id,
    is_local: false,
    name: t.name,
    popularity: t.popularity,
    preview_url: null,
    track_number: t.trackNumber,
    type: "track",
    uri: `spotify:track:${t.id}`,
  };
  rendered.set(index, track);
  return track;
}

export function trackPopularity(index: number): number {
  return (tracks()[index % CATALOG_SIZE] as CatalogTrack).popularity;
}

/** Index of a catalog track by its Spotify id, or null. */
function trackIndex(id: string): number | null {
  const index = tracks().findIndex((t) => t.id === id);
  return index === -1 ? null : index;
}

const trackInput = z.strictObject({
  /** A catalog track id (from an earlier response); a random catalog track when absent. */
  trackId: z.string().min(1).optional(),
});

// --- recently played --------------------------------------------------------------------------

/** A play: `id` is the played_at instant in ms (plays have no id of their own). */
export type SpotifyPlay = DataItem & { track: number; playlist: number };

function playlistContext(playlist: number, seed: number): Context | null {
  if (playlist < 0) return null;
  const id = createRng(hashSeed("playlist", seed, playlist)).string(BASE62, 22);
  return {
    type: "playlist",
    href: `${API}/playlists/${id}`,
    external_urls: { spotify: `${OPEN}/playlist/${id}` },
    uri: `spotify:playlist:${id}`,
  };
}

/** A play as sent: a `SentTrack`, and `context: null` outside a playlist or album, which the SDK's type leaves out. */
export type SentPlay = Omit<PlayHistory, "track" | "context"> & { track: SentTrack; context: Context | null };

/** The recently-played page as sent: `cursors` is null on an empty page, which the SDK's type leaves out. */
export type SentRecentlyPlayedPage = Omit<RecentlyPlayedTracksPage, "items" | "cursors"> & {
  items: SentPlay[];
  cursors: RecentlyPlayedTracksPage["cursors"] | null;
};

export const spotifyRecentlyPlayed: ResourceSpec<SpotifyPlay, z.output<typeof trackInput>> = {
  name: "spotify.recently-played",
  platform: "spotify",
  input: trackInput,
  expirable: false,
  seed({ rng, epoch }, count) {
    return timeline(rng, count, epoch - 5 * MINUTE, 2 * MINUTE, 40 * MINUTE).map((time) => ({
      id: String(time),
      time,
      track: rng.int(CATALOG_SIZE),
      playlist: rng.chance(0.6) ? rng.int(4) : -1,
    }));
  },
  create({ rng }, input, at) {
    const known = input.trackId === undefined ? null : trackIndex(input.trackId);
    return { id: String(at), time: at, track: known ?? rng.int(CATALOG_SIZE), playlist: -1 };
  },
  render(account, item): SentPlay {
    return {
      track: renderTrack(item.track),
      played_at: isoString(item.time),
      context: playlistContext(item.playlist, hashSeed(account.key)),
    };
  },
};

// --- top tracks -------------------------------------------------------------------------------

/** A top track; the newest addition ranks first. `id` is the track's Spotify id. */
export type SpotifyTopTrack = DataItem & { track: number };

export const spotifyTopTracks: ResourceSpec<SpotifyTopTrack, z.output<typeof trackInput>> = {
  name: "spotify.top-tracks",
  platform: "spotify",
  input: trackInput,
  expirable: false,
  seed({ rng, epoch }, count) {
    const picked = new Set<number>();
    while (picked.size < Math.min(count, CATALOG_SIZE)) picked.add(rng.int(CATALOG_SIZE));
    return [...picked].map((track, i) => ({
      id: (tracks()[track] as CatalogTrack).id,
      time: epoch - (count - i) * MINUTE,
      track,
    }));
  },
  create({ account, rng }, input, at) {
    let track = input.trackId === undefined ? null : trackIndex(input.trackId);
    // A new favourite is a track not already in the list (if the catalog has one left).
    const current = account.datasets.get("spotify.top-tracks");
    for (let tries = 0; track === null && tries < 50; tries += 1) {
      const candidate = rng.int(CATALOG_SIZE);
      if (current?.get((tracks()[candidate] as CatalogTrack).id) === undefined) track = candidate;
    }
    const index = track ?? rng.int(CATALOG_SIZE);
    return { id: (tracks()[index] as CatalogTrack).id, time: at, track: index };
  },
  update(_ctx, existing, _input, at) {
    return { id: existing.id, time: at, track: existing.track };
  },
  render(_account, item) {
    return renderTrack(item.track);
  },
};
