import { z } from "zod";
import type { Account } from "./account.ts";
import type { DataItem, ResourceSpec } from "./dataset.ts";
import { BASE64URL, createRng, DAY, HEX, HOUR, hashSeed, MINUTE, type Rng, timeline } from "./seed.ts";
import { isoString } from "./time.ts";
import { ADJECTIVES, NOUNS, TOPICS } from "./words.ts";

const API = "https://api.github.com";
const WEB = "https://github.com";
const LANGUAGES = ["TypeScript", "Go", "Python", "Rust", "JavaScript", "Shell", null] as const;
const ORGS = [
  { login: "acme-corp", id: 51_234_001 },
  { login: "globex-labs", id: 51_234_002 },
] as const;

/** GitHub writes whole seconds: `2026-01-31T09:30:00Z`. */
function iso(ms: number): string {
  return `${isoString(ms).slice(0, -5)}Z`;
}

/** The account's repository names: unique, stable, in the order repos are created. */
function repoName(account: Account, index: number): string {
  const order = createRng(hashSeed(account.key, "repo-names"));
  const offset = order.int(ADJECTIVES.length * NOUNS.length);
  const n = (offset + index * 7) % (ADJECTIVES.length * NOUNS.length);
  const base = `${ADJECTIVES[n % ADJECTIVES.length]}-${NOUNS[Math.floor(n / ADJECTIVES.length)]}`;
  const round = Math.floor(index / (ADJECTIVES.length * NOUNS.length));
  return round === 0 ? base : `${base}-${round + 1}`;
}

function userOwner(account: Account): Record<string, unknown> {
  const { login, numericId } = account.profile;
  return {
    login,
    id: numericId,
    node_id: `U_kgDO${createRng(hashSeed("node", login)).string(BASE64URL, 8)}`,
    avatar_url: `https://avatars.githubusercontent.com/u/${numericId}?v=4`,
    gravatar_id: "",
    url: `${API}/users/${login}`,
    html_url: `${WEB}/${login}`,
    type: "User",
    site_admin: false,
  };
}

/** `GET /user` for the account: its login is what `/users/{username}/events` needs. */
export function renderGithubUser(account: Account, publicRepos: number): Record<string, unknown> {
  const { profile } = account;
  const created = Date.parse("2014-03-01T00:00:00Z") + (profile.numericId % 2000) * DAY;
  return {
    ...userOwner(account),
    name: profile.displayName,
    company: null,
    blog: "",
    location: null,
    email: null,
    hireable: null,
    bio: null,
    twitter_username: null,
    public_repos: publicRepos,
    public_gists: 0,
    followers: profile.numericId % 300,
    following: profile.numericId % 40,
    created_at: iso(created),
    updated_at: iso(created + 400 * DAY),
  };
}

// --- repositories -----------------------------------------------------------------------------

/** `id` is the numeric repository id; `time` is created_at. */
export type GithubRepo = DataItem & {
  name: string;
  /** Index into ORGS, or -1 for a repository the user owns. */
  org: number;
  private: boolean;
  description: string | null;
  language: string | null;
  stars: number;
  forks: number;
  issues: number;
  pushedAt: number;
};

const repoInput = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/)
    .optional(),
  private: z.boolean().optional(),
  description: z.string().max(350).nullable().optional(),
  language: z.string().min(1).nullable().optional(),
});

function makeRepo(
  account: Account,
  rng: Rng,
  index: number,
  time: number,
  epoch: number,
): Omit<GithubRepo, "seq"> {
  return {
    id: String(100_000_000 + (hashSeed(account.key, "repo", index) % 800_000_000)),
    time,
    name: repoName(account, index),
    org: rng.chance(0.2) ? rng.int(ORGS.length) : -1,
    private: rng.chance(0.3),
    description: rng.chance(0.7) ? `Tools for ${rng.pick(TOPICS)}` : null,
    language: rng.pick(LANGUAGES),
    stars: rng.chance(0.5) ? 0 : rng.between(1, 900),
    forks: rng.chance(0.7) ? 0 : rng.between(1, 60),
    issues: rng.between(0, 12),
    pushedAt: Math.min(epoch - MINUTE, time + rng.int(Math.max(1, epoch - time))),
  };
}

export const githubRepos: ResourceSpec<GithubRepo, z.output<typeof repoInput>> = {
  name: "github.repos",
  platform: "github",
  input: repoInput,
  expirable: false,
  seed({ account, rng, epoch }, count) {
    return timeline(rng, count, epoch - DAY, DAY, 60 * DAY).map((time, i) =>
      makeRepo(account, rng, i, time, epoch),
    );
  },
  create({ account, rng }, input, at) {
    const index = account.datasets.get("github.repos")?.size ?? 0;
    const repo = makeRepo(account, rng, index + 1000, at, at + MINUTE);
    return {
      ...repo,
      name: input.name ?? repoName(account, index),
      org: -1,
      private: input.private ?? repo.private,
      description: input.description === undefined ? repo.description : input.description,
      language: input.language === undefined ? repo.language : input.language,
      stars: 0,
      forks: 0,
      issues: 0,
      pushedAt: at,
    };
  },
  render(account, repo) {
    const org = ORGS[repo.org];
    const owner =
      org === undefined
        ? userOwner(account)
        : {
            login: org.login,
            id: org.id,
            avatar_url: `https://avatars.githubusercontent.com/u/${org.id}?v=4`,
            url: `${API}/users/${org.login}`,
            html_url: `${WEB}/${org.login}`,
            type: "Organization",
            site_admin: false,
          };
    const fullName = `${String(owner.login)}/${repo.name}`;
    const admin = org === undefined;
    return {
      id: Number(repo.id),
      node_id: `R_kgDO${createRng(hashSeed("node", repo.id)).string(BASE64URL, 8)}`,
      name: repo.name,
      full_name: fullName,
      private: repo.private,
      owner,
      html_url: `${WEB}/${fullName}`,
      description: repo.description,
      fork: false,
      url: `${API}/repos/${fullName}`,
      created_at: iso(repo.time),
      updated_at: iso(repo.pushedAt),
      pushed_at: iso(repo.pushedAt),
      git_url: `git://github.com/${fullName}.git`,
      ssh_url: `git@github.com:${fullName}.git`,
      clone_url: `${WEB}/${fullName}.git`,
      homepage: null,
      size: Number(repo.id) % 50_000,
      stargazers_count: repo.stars,
      watchers_count: repo.stars,
      language: repo.language,
      has_issues: true,
      has_projects: true,
      has_wiki: !repo.private,
      has_pages: false,
      forks_count: repo.forks,
      archived: false,
      disabled: false,
      open_issues_count: repo.issues,
      license: null,
      allow_forking: true,
      is_template: false,
      topics: [],
      visibility: repo.private ? "private" : "public",
      forks: repo.forks,
      open_issues: repo.issues,
      watchers: repo.stars,
      default_branch: "main",
      permissions: { admin, maintain: admin, push: true, triage: true, pull: true },
    };
  },
};

/** The full name a repo is listed under (owner/name). */
export function repoFullName(account: Account, repo: GithubRepo): string {
  return `${ORGS[repo.org]?.login ?? account.profile.login}/${repo.name}`;
}

// --- events -----------------------------------------------------------------------------------

export const githubEventTypes = [
  "PushEvent",
  "PullRequestEvent",
  "IssuesEvent",
  "IssueCommentEvent",
  "CreateEvent",
  "WatchEvent",
] as const;
type GithubEventType = (typeof githubEventTypes)[number];

/** `id` is GitHub's numeric event id (increasing with time); `repo` is owner/name. */
export type GithubEvent = DataItem & { type: GithubEventType; repo: string; private: boolean };

const eventInput = z.strictObject({
  type: z.enum(githubEventTypes).optional(),
  /** owner/name; one of the account's repositories when absent. */
  repo: z
    .string()
    .regex(/^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/)
    .optional(),
});

function makeEvent(
  account: Account,
  rng: Rng,
  time: number,
  type?: GithubEventType,
  repo?: string,
): Omit<GithubEvent, "seq"> {
  const ownRepo = `${account.profile.login}/${repoName(account, rng.int(8))}`;
  return {
    // Event ids grow with time, so "newest first" is also "largest id first".
    id: String(Math.floor(time / 10)),
    time,
    type: type ?? (rng.chance(0.45) ? "PushEvent" : rng.pick(githubEventTypes)),
    repo:
      repo ?? (rng.chance(0.8) ? ownRepo : `${rng.pick(ORGS).login}/${repoName(account, 40 + rng.int(8))}`),
    private: rng.chance(0.2),
  };
}

function eventPayload(account: Account, event: GithubEvent): Record<string, unknown> {
  const rng = createRng(hashSeed(event.id, event.repo));
  const number = rng.between(1, 400);
  const html = `${WEB}/${event.repo}`;
  switch (event.type) {
    case "PushEvent": {
      const head = rng.string(HEX, 40);
      return {
        repository_id: hashSeed(event.repo) % 800_000_000,
        push_id: Number(event.id) * 3,
        size: 1,
        distinct_size: 1,
        ref: "refs/heads/main",
        head,
        before: rng.string(HEX, 40),
        commits: [
          {
            sha: head,
            author: { email: account.profile.email, name: account.profile.displayName },
            message: `Update ${rng.pick(NOUNS)} handling`,
            distinct: true,
            url: `${API}/repos/${event.repo}/commits/${head}`,
          },
        ],
      };
    }
    case "PullRequestEvent":
      return {
        action: "opened",
        number,
        pull_request: {
          url: `${API}/repos/${event.repo}/pulls/${number}`,
          id: 2_000_000_000 + number,
          number,
          state: "open",
          title: `Improve ${rng.pick(TOPICS)}`,
          html_url: `${html}/pull/${number}`,
        },
      };
    case "IssuesEvent":
      return {
        action: "opened",
        issue: {
          url: `${API}/repos/${event.repo}/issues/${number}`,
          id: 3_000_000_000 + number,
          number,
          title: `Problem with ${rng.pick(TOPICS)}`,
          state: "open",
          html_url: `${html}/issues/${number}`,
        },
      };
    case "IssueCommentEvent":
      return {
        action: "created",
        issue: { number, title: `Question about ${rng.pick(TOPICS)}`, html_url: `${html}/issues/${number}` },
        comment: {
          id: 1_500_000_000 + rng.int(500_000_000),
          body: "Thanks, looks good to me.",
          html_url: `${html}/issues/${number}#issuecomment-${number}`,
        },
      };
    case "CreateEvent":
      return {
        ref: `feature/${rng.pick(NOUNS)}`,
        ref_type: "branch",
        master_branch: "main",
        description: null,
        pusher_type: "user",
      };
    case "WatchEvent":
      return { action: "started" };
  }
}

export const githubEvents: ResourceSpec<GithubEvent, z.output<typeof eventInput>> = {
  name: "github.events",
  platform: "github",
  input: eventInput,
  expirable: false,
  seed({ account, rng, epoch }, count) {
    return timeline(rng, count, epoch - 10 * MINUTE, 5 * MINUTE, 14 * HOUR).map((time) =>
      makeEvent(account, rng, time),
    );
  },
  create({ account, rng }, input, at) {
    return makeEvent(account, rng, at, input.type, input.repo);
  },
  render(account, event) {
    const { login, numericId } = account.profile;
    const repoId = hashSeed(event.repo) % 800_000_000;
    return {
      id: event.id,
      type: event.type,
      actor: {
        id: numericId,
        login,
        display_login: login,
        gravatar_id: "",
        url: `${API}/users/${login}`,
        avatar_url: `https://avatars.githubusercontent.com/u/${numericId}?`,
      },
      repo: { id: repoId, name: event.repo, url: `${API}/repos/${event.repo}` },
      payload: eventPayload(account, event),
      public: !event.private,
      created_at: iso(event.time),
    };
  },
};
