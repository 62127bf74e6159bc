import type { FastifyRequest } from "fastify";
import type { DataResponse } from "../shared/errors.ts";
import { intParam, linkHeader } from "../shared/paging.ts";

/** GitHub's `per_page` (default 30, at most 100) and `page` (from 1) over a list, with its Link header. */
export function githubPage<T, R>(
  request: FastifyRequest,
  path: string,
  query: URLSearchParams,
  items: readonly T[],
  render: (item: T) => R,
): DataResponse {
  const perPage = intParam(query, { name: "per_page", default: 30, min: 1, max: 100, clamp: true }) ?? 30;
  const page = intParam(query, { name: "page", default: 1, min: 1, max: 1_000_000, clamp: true }) ?? 1;
  const lastPage = Math.max(1, Math.ceil(items.length / perPage));
  const link = linkHeader(request, path, query, page, lastPage);
  return {
    status: 200,
    body: items.slice((page - 1) * perPage, page * perPage).map(render),
    headers: link === null ? {} : { link },
  };
}
