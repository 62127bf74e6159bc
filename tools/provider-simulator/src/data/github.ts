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

/** The API links of a user or organisation, as GitHub writes them (RFC 6570 templates included). */
function userLinks(login: string): Record<string, string> {
  const url = `${API}/users/${login}`;
  return {
    url,
    html_url: `${WEB}/${login}`,
    followers_url: `${url}/followers`,
    following_url: `${url}/following{/other_user}`,
    gists_url: `${url}/gists{/gist_id}`,
    starred_url: `${url}/starred{/owner}{/repo}`,
    subscriptions_url: `${url}/subscriptions`,
    organizations_url: `${url}/orgs`,
    repos_url: `${url}/repos`,
    events_url: `${url}/events{/privacy}`,
    received_events_url: `${url}/received_events`,
  };
}

/** A `simple-user`: a repository's owner, an issue's author. */
function simpleUser(login: string, id: number, type: "User" | "Organization"): Record<string, unknown> {
  return {
    login,
    id,
    node_id: `${type === "User" ? "U" : "O"}_kgDO${createRng(hashSeed("node", login)).string(BASE64URL, 8)}`,
    avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
    gravatar_id: "",
    ...userLinks(login),
    type,
    user_view_type: "public",
    site_admin: false,
  };
}

function userOwner(account: Account): Record<string, unknown> {
  return simpleUser(account.profile.login, account.profile.numericId, "User");
}

/** `GET /user` for the account (a `private-user`): its login is what `/users/{username}/events` needs. */
export function renderGithubUser(account: Account, publicRepos: number): Record<string, unknown> {
  const { profile } = account;
  const created = Date.parse("2014-03-01T00:00:00Z") + (profile.numericId % 2000) * DAY;
  return {
    ...userOwner(account),
    user_view_type: "private",
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
    private_gists: 0,
    total_private_repos: profile.numericId % 7,
    owned_private_repos: profile.numericId % 7,
    disk_usage: profile.numericId % 90_000,
    collaborators: 0,
    two_factor_authentication: true,
  };
}

/** The API links of a repository, as GitHub writes them (RFC 6570 templates included). */
function repoLinks(fullName: string): Record<string, string> {
  const url = `${API}/repos/${fullName}`;
  const links: Record<string, string> = { url };
  const paths: Array<[string, string]> = [
    ["archive", "/{archive_format}{/ref}"],
    ["assignees", "/assignees{/user}"],
    ["blobs", "/git/blobs{/sha}"],
    ["branches", "/branches{/branch}"],
    ["collaborators", "/collaborators{/collaborator}"],
    ["comments", "/comments{/number}"],
    ["commits", "/commits{/sha}"],
    ["compare", "/compare/{base}...{head}"],
    ["contents", "/contents/{+path}"],
    ["contributors", "/contributors"],
    ["deployments", "/deployments"],
    ["downloads", "/downloads"],
    ["events", "/events"],
    ["forks", "/forks"],
    ["git_commits", "/git/commits{/sha}"],
    ["git_refs", "/git/refs{/sha}"],
    ["git_tags", "/git/tags{/sha}"],
    ["hooks", "/hooks"],
    ["issue_comment", "/issues/comments{/number}"],
    ["issue_events", "/issues/events{/number}"],
    ["issues", "/issues{/number}"],
    ["keys", "/keys{/key_id}"],
    ["labels", "/labels{/name}"],
    ["languages", "/languages"],
    ["merges", "/merges"],
    ["milestones", "/milestones{/number}"],
    ["notifications", "/notifications{?since,all,participating}"],
    ["pulls", "/pulls{/number}"],
    ["releases", "/releases{/id}"],
    ["stargazers", "/stargazers"],
    ["statuses", "/statuses/{sha}"],
    ["subscribers", "/subscribers"],
    ["subscription", "/subscription"],
    ["tags", "/tags"],
    ["teams", "/teams"],
    ["trees", "/git/trees{/sha}"],
  ];
  for (const [name, path] of paths) links[`${name}_url`] = `${url}${path}`;
  return links;
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
    const owner = org === undefined ? userOwner(account) : simpleUser(org.login, org.id, "Organization");
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
      ...repoLinks(fullName),
      created_at: iso(repo.time),
      updated_at: iso(repo.pushedAt),
      pushed_at: iso(repo.pushedAt),
      git_url: `git://github.com/${fullName}.git`,
      ssh_url: `git@github.com:${fullName}.git`,
      clone_url: `${WEB}/${fullName}.git`,
      svn_url: `${WEB}/${fullName}`,
      mirror_url: null,
      homepage: null,
      size: Number(repo.id) % 50_000,
      stargazers_count: repo.stars,
      watchers_count: repo.stars,
      language: repo.language,
      has_issues: true,
      has_projects: true,
      has_wiki: !repo.private,
      has_pages: false,
      has_downloads: true,
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

/** An `issue` as events carry it (opened by the account, open, without labels or assignees). */
function eventIssue(
  account: Account,
  event: GithubEvent,
  number: number,
  title: string,
): Record<string, unknown> {
  const url = `${API}/repos/${event.repo}/issues/${number}`;
  const id = 3_000_000_000 + number;
  return {
    url,
    repository_url: `${API}/repos/${event.repo}`,
    labels_url: `${url}/labels{/name}`,
    comments_url: `${url}/comments`,
    events_url: `${url}/events`,
    html_url: `${WEB}/${event.repo}/issues/${number}`,
    id,
    node_id: `I_kwDO${createRng(hashSeed("node", id)).string(BASE64URL, 8)}`,
    number,
    title,
    user: userOwner(account),
    labels: [],
    state: "open",
    locked: false,
    assignee: null,
    assignees: [],
    milestone: null,
    comments: 0,
    created_at: iso(event.time),
    updated_at: iso(event.time),
    closed_at: null,
    author_association: "OWNER",
    body: null,
  };
}

/** A pull request's `head` or `base` as events carry them (`pull-request-minimal`). */
function branchRef(repo: string, ref: string, sha: string): Record<string, unknown> {
  return { ref, sha, repo: { id: hashSeed(repo) % 800_000_000, url: `${API}/repos/${repo}`, name: repo } };
}

/** Each type's payload with the fields GitHub's description lists for it, no more. */
function eventPayload(account: Account, event: GithubEvent): Record<string, unknown> {
  const rng = createRng(hashSeed(event.id, event.repo));
  const number = rng.between(1, 400);
  switch (event.type) {
    case "PushEvent":
      return {
        repository_id: hashSeed(event.repo) % 800_000_000,
        push_id: Number(event.id) * 3,
        ref: "refs/heads/main",
        head: rng.string(HEX, 40),
        before: rng.string(HEX, 40),
      };
    case "PullRequestEvent": {
      const branch = `feature/${rng.pick(NOUNS)}`;
      return {
        action: "opened",
        number,
        pull_request: {
          url: `${API}/repos/${event.repo}/pulls/${number}`,
          id: 2_000_000_000 + number,
          number,
          head: branchRef(event.repo, branch, rng.string(HEX, 40)),
          base: branchRef(event.repo, "main", rng.string(HEX, 40)),
        },
      };
    }
    case "IssuesEvent":
      return {
        action: "opened",
        issue: eventIssue(account, event, number, `Problem with ${rng.pick(TOPICS)}`),
      };
    case "IssueCommentEvent": {
      const issue = eventIssue(account, event, number, `Question about ${rng.pick(TOPICS)}`);
      const id = 1_500_000_000 + rng.int(500_000_000);
      return {
        action: "created",
        issue,
        comment: {
          id,
          node_id: `IC_kwDO${createRng(hashSeed("node", id)).string(BASE64URL, 8)}`,
          url: `${API}/repos/${event.repo}/issues/comments/${id}`,
          html_url: `${String(issue.html_url)}#issuecomment-${id}`,
          issue_url: String(issue.url),
          user: userOwner(account),
          created_at: iso(event.time),
          updated_at: iso(event.time),
          author_association: "OWNER",
          body: "Thanks, looks good to me.",
        },
      };
    }
    case "CreateEvent": {
      const ref = `feature/${rng.pick(NOUNS)}`;
      return {
        ref,
        ref_type: "branch",
        full_ref: `refs/heads/${ref}`,
        master_branch: "main",
        description: null,
        pusher_type: "user",
      };
    }
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
