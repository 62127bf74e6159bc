import type { youtube_v3 } from "@googleapis/youtube";
import { z } from "zod";
import type { DataItem, ResourceSpec } from "./dataset.ts";
import { BASE64URL, createRng, DAY, HOUR, hashSeed, timeline } from "./seed.ts";
import { isoString } from "./time.ts";
import { ADJECTIVES, FIRST_NAMES, NOUNS, TOPICS } from "./words.ts";

type CatalogVideo = {
  id: string;
  channelId: string;
  channelTitle: string;
  title: string;
  description: string;
  publishedAt: number;
  durationSeconds: number;
  categoryId: string;
  tags: string[];
  views: number;
  likes: number;
  comments: number;
};

const CATALOG_SIZE = 400;
let catalog: CatalogVideo[] | null = null;

/** One shared, seeded catalog of public videos; a like stores only an index into it. */
function videos(): CatalogVideo[] {
  if (catalog !== null) return catalog;
  const rng = createRng(hashSeed("youtube-catalog"));
  const channels = Array.from({ length: 60 }, () => ({
    id: `UC${rng.string(BASE64URL, 22)}`,
    title: rng.chance(0.5)
      ? `${rng.pick(FIRST_NAMES)} ${rng.pick(["Codes", "Cooks", "Vlogs", "Plays", "Talks"])}`
      : `${rng.pick(NOUNS)}${rng.pick(["TV", "Lab", "Studio", "Daily"])}`,
  }));
  const epoch = Date.parse("2026-01-01T00:00:00Z");
  catalog = Array.from({ length: CATALOG_SIZE }, () => {
    const channel = rng.pick(channels);
    const noun = rng.pick(NOUNS);
    const views = rng.between(200, 5_000_000);
    return {
      id: rng.string(BASE64URL, 11),
      channelId: channel.id,
      channelTitle: channel.title,
      title: `${rng.pick(["How to build a", "I tried a", "The truth about the", "10 tips for your", "Why every team needs a"])} ${rng.pick(ADJECTIVES)} ${noun}`,
      description: `In this video we talk about ${rng.pick(TOPICS)}.`,
      publishedAt: epoch - rng.int(4 * 365) * DAY - rng.int(24) * HOUR,
      durationSeconds: rng.between(45, 3600),
      categoryId: rng.pick(["10", "20", "22", "24", "27", "28"]),
      tags: [noun, rng.pick(ADJECTIVES)],
      views,
      likes: Math.floor(views / rng.between(15, 60)),
      comments: Math.floor(views / rng.between(200, 900)),
    };
  });
  return catalog;
}

/** ISO 8601 duration as YouTube writes it (PT1H2M3S). */
function isoDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `PT${h > 0 ? `${h}H` : ""}${m > 0 ? `${m}M` : ""}${s > 0 || seconds === 0 ? `${s}S` : ""}`;
}

/** A stable 27-character etag for a value. */
export function youtubeEtag(...parts: ReadonlyArray<string | number>): string {
  return createRng(hashSeed("etag", ...parts)).string(BASE64URL, 27);
}

/** A video the user liked; `time` is when. `id` is the video id. */
export type YoutubeLike = DataItem & { video: number; title?: string };

const likeInput = z.strictObject({
  /** Title of the new liked video; a catalog video when absent. */
  title: z.string().min(1).max(200).optional(),
});

export const youtubeParts = ["id", "snippet", "contentDetails", "statistics", "status"] as const;
export type YoutubePart = (typeof youtubeParts)[number];

/** A `youtube#video` resource with the requested parts. */
export function renderVideo(item: YoutubeLike, parts: ReadonlySet<string>): youtube_v3.Schema$Video {
  const v = videos()[item.video % CATALOG_SIZE] as CatalogVideo;
  const title = item.title ?? v.title;
  const out: youtube_v3.Schema$Video = {
    kind: "youtube#video",
    etag: youtubeEtag(item.id, title),
    id: item.id,
  };
  if (parts.has("snippet")) {
    const thumb = (
      name: string,
      width: number,
      height: number,
    ): { url: string; width: number; height: number } => ({
      url: `https://i.ytimg.com/vi/${item.id}/${name}.jpg`,
      width,
      height,
    });
    out.snippet = {
      publishedAt: isoString(v.publishedAt).replace(".000Z", "Z"),
      channelId: v.channelId,
      title,
      description: v.description,
      thumbnails: {
        default: thumb("default", 120, 90),
        medium: thumb("mqdefault", 320, 180),
        high: thumb("hqdefault", 480, 360),
      },
      channelTitle: v.channelTitle,
      tags: v.tags,
      categoryId: v.categoryId,
      liveBroadcastContent: "none",
      localized: { title, description: v.description },
    };
  }
  if (parts.has("contentDetails")) {
    out.contentDetails = {
      duration: isoDuration(v.durationSeconds),
      dimension: "2d",
      definition: v.views % 3 === 0 ? "sd" : "hd",
      caption: "false",
      licensedContent: true,
      contentRating: {},
      projection: "rectangular",
    };
  }
  if (parts.has("statistics")) {
    out.statistics = {
      viewCount: String(v.views),
      likeCount: String(v.likes),
      favoriteCount: "0",
      commentCount: String(v.comments),
    };
  }
  if (parts.has("status")) {
    out.status = {
      uploadStatus: "processed",
      privacyStatus: "public",
      license: "youtube",
      embeddable: true,
      publicStatsViewable: true,
      madeForKids: false,
    };
  }
  return out;
}

const allParts = new Set<string>(youtubeParts);

export const youtubeLikes: ResourceSpec<YoutubeLike, z.output<typeof likeInput>> = {
  name: "youtube.liked-videos",
  platform: "youtube",
  input: likeInput,
  expirable: false,
  seed({ rng, epoch }, count) {
    const picked = new Set<number>();
    while (picked.size < Math.min(count, CATALOG_SIZE)) picked.add(rng.int(CATALOG_SIZE));
    const times = timeline(rng, picked.size, epoch - HOUR, 2 * HOUR, 3 * DAY);
    return [...picked].map((video, i) => ({
      id: (videos()[video] as CatalogVideo).id,
      time: times[i] as number,
      video,
    }));
  },
  create({ account, rng }, input, at) {
    // A new like is a video not liked yet (liking one again changes nothing at YouTube).
    const liked = account.datasets.get("youtube.liked-videos");
    const videoId = (index: number): string => (videos()[index] as CatalogVideo).id;
    let video = rng.int(CATALOG_SIZE);
    for (let tries = 0; tries < 50 && liked?.get(videoId(video)) !== undefined; tries += 1) {
      video = rng.int(CATALOG_SIZE);
    }
    // A titled input is a freshly uploaded video: a new id, the rest borrowed from the catalog.
    const fresh = input.title !== undefined || liked?.get(videoId(video)) !== undefined;
    const item: Omit<YoutubeLike, "seq"> = {
      id: fresh ? rng.string(BASE64URL, 11) : videoId(video),
      time: at,
      video,
    };
    if (input.title !== undefined) item.title = input.title;
    return item;
  },
  render(_account, item) {
    return renderVideo(item, allParts);
  },
};
