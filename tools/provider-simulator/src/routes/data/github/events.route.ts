import { githubEvents } from "../../../data/github.ts";
import { dataRoute } from "../shared/endpoint.ts";
import { platformError } from "../shared/errors.ts";
import { githubPage } from "./pagination.ts";

/** GitHub keeps the latest 300 events of a user (and only 30 days of them). */
const EVENT_LIMIT = 300;

/**
 * `GET /users/{username}/events?per_page=&page=` — GitHub's endpoint for "the authenticated user's
 * events" (there is no `/user/events`): newest first, Link-header paged, with an ETag and
 * `X-Poll-Interval: 60`. Poll page one with `If-None-Match`: 304 (free of rate limit) until
 * something happens. The login must be the token's user (`GET /user`), in any case.
 */
export const githubEventsRoute = dataRoute({
  platform: "github",
  resource: githubEvents.name,
  url: "/github/users/:username/events",
  etag: true,
  handle({ request, query, params, state, account }) {
    if ((params.username ?? "").toLowerCase() !== account.profile.login) {
      return platformError("github", 404, { message: "Not Found" });
    }
    const events = state.data.dataset(account, githubEvents).newestFirst().slice(0, EVENT_LIMIT);
    const path = `/github/users/${account.profile.login}/events`;
    const response = githubPage(request, path, query, events, (event) => githubEvents.render(account, event));
    return { ...response, headers: { ...response.headers, "x-poll-interval": "60" } };
  },
});
