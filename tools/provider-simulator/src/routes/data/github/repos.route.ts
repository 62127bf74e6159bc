import { type GithubRepo, githubRepos, repoFullName } from "../../../data/github.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { platformError } from "../shared/errors.ts";
import { githubPage } from "./pagination.ts";

const PATH = "/github/user/repos";
const SORTS = ["created", "updated", "pushed", "full_name"] as const;
type Sort = (typeof SORTS)[number];

/**
 * `GET /user/repos?per_page=&page=&sort=&direction=&visibility=&affiliation=&type=` — the user's
 * repositories (own and organisations'), Link-header paged, with an ETag: a repeat request with
 * `If-None-Match` gets 304 until a repository is added. An OAuth token without the `repo` scope
 * sees public repositories only.
 */
export const githubReposRoute = dataRoute({
  platform: "github",
  resource: githubRepos.name,
  url: PATH,
  etag: true,
  handle({ request, query, state, account, grant }) {
    const sort = (query.get("sort") ?? "full_name") as Sort;
    if (!SORTS.includes(sort)) return validationFailed("sort");
    const direction = query.get("direction") ?? (sort === "full_name" ? "asc" : "desc");
    if (direction !== "asc" && direction !== "desc") return validationFailed("direction");
    const type = query.get("type");
    const visibility = query.get("visibility") ?? "all";
    const affiliation = query.get("affiliation");
    if (type !== null && (query.has("visibility") || affiliation !== null)) {
      return platformError("github", 422, {
        message: "If you specify visibility or affiliation, you cannot specify type.",
      });
    }
    if (!["all", "public", "private"].includes(visibility)) return validationFailed("visibility");

    const seesPrivate = grant.provider === "github-app" || grant.scopes.includes("repo");
    const owned = (repo: GithubRepo): boolean => repo.org < 0;
    const wanted = (repo: GithubRepo): boolean => {
      if (repo.private && !seesPrivate) return false;
      if (visibility !== "all" && repo.private !== (visibility === "private")) return false;
      switch (type ?? "all") {
        case "owner":
          return owned(repo);
        case "member":
          return !owned(repo);
        case "public":
          return !repo.private;
        case "private":
          return repo.private;
      }
      if (affiliation !== null) {
        const kinds = affiliation.split(",");
        return owned(repo) ? kinds.includes("owner") : kinds.includes("organization_member");
      }
      return true;
    };
    const key: Record<Sort, (repo: GithubRepo) => number | string> = {
      created: (repo) => repo.time,
      updated: (repo) => repo.pushedAt,
      pushed: (repo) => repo.pushedAt,
      full_name: (repo) => repoFullName(account, repo).toLowerCase(),
    };
    const sorted = state.data.dataset(account, githubRepos).view(`${sort}:${direction}`, (items) => {
      const by = key[sort];
      const out = [...items].sort((a, b) => {
        const x = by(a);
        const y = by(b);
        return x < y ? -1 : x > y ? 1 : 0;
      });
      return direction === "desc" ? out.reverse() : out;
    });
    return githubPage(request, PATH, query, sorted.filter(wanted), (repo) =>
      githubRepos.render(account, repo),
    );
  },
});

function validationFailed(field: string) {
  return platformError("github", 422, { message: `Validation Failed: invalid ${field}` });
}
