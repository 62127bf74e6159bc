import { githubRepos, renderGithubUser } from "../../../data/github.ts";
import { dataRoute } from "../shared/endpoint.ts";

/** `GET /user` — the authenticated user; its `login` is what `/users/{username}/events` takes. */
export const githubUserRoute = dataRoute({
  platform: "github",
  resource: "github.user",
  url: "/github/user",
  etag: true,
  handle({ state, account }) {
    const repos = state.data.dataset(account, githubRepos).items;
    const publicRepos = repos.filter((repo) => !repo.private && repo.org < 0).length;
    return { status: 200, body: renderGithubUser(account, publicRepos) };
  },
});
