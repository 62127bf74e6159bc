# syntax=docker/dockerfile:1
#
# One image for every Syncwell process; its first argument picks which (scripts/docker-entrypoint.sh):
#
#   docker build -t syncwell .
#   docker run syncwell scheduler        (or token-service, poller, health-scorer, notifier)
#   docker run syncwell migrate          apply the database migrations, then exit
#   docker run syncwell provider-simulator
#
# `--build-arg SERVICE=poller` bakes in a default, so the image runs the poller with no argument.
# Each service runs as one bundled ES module (`npm run build`: services/<name>/dist/main.mjs, its
# packages left as imports), not through Node's type stripping, which costs each process about 35 MB
# (docs/decisions/0019). The migration and outbox CLIs and the simulator run their TypeScript as is.

ARG NODE_IMAGE=node:22-bookworm-slim

# Every package.json in its folder, and the lockfile: the `npm ci` layer below depends on these
# alone, so it is rebuilt when dependencies change, not on every source edit.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests \
  && cp package.json package-lock.json .npmrc /manifests/ \
  && find libs services tools -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents '{}' /manifests/ ';'

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY --from=manifests /manifests/ ./
# --ignore-scripts: the one install script the project relies on is that of the `node`
# devDependency, which downloads Node 22 for machines whose own Node is older; this image is Node 22
# already. Its dangling bin link goes too, so `node` below is the image's. (Prisma's install scripts
# would fetch engines that are not used: the client runs over @prisma/adapter-pg.)
#
# `npm install` when `npm ci` refuses the lockfile: it is written against a registry that lacks
# Biome's packages for other platforms, and npm ci then reports them missing (same versions either way).
RUN --mount=type=cache,target=/root/.npm \
  (npm ci --ignore-scripts --no-audit --no-fund || npm install --ignore-scripts --no-audit --no-fund) \
  && rm -f node_modules/.bin/node
COPY . .
# The Prisma Client is generated code (not in git). libs/db/scripts/generate.sh points
# PRISMA_SCHEMA_ENGINE_BINARY at a placeholder: generating needs no schema engine, and migrations are
# applied by libs/db/src/cli/migrate.ts, not by the Prisma CLI.
RUN npm run generate -w @syncwell/db
RUN npm run build
# Build-only packages go: vitest, biome, the `node` package, and the Prisma CLI and TypeScript with
# all they pull in (~250 MB). The last two are optional peers of @prisma/client, so npm marks them
# "devOptional" and keeps them unless optional packages are omitted too. The production tree needs no
# optional package (tools/dev/src/deploy.test.ts checks the lockfile for new ones).
RUN npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
  HTTP_PORT=3000
WORKDIR /app
# Owned by root and read-only for the `node` user that runs it.
COPY --from=build /app ./
ARG SERVICE=""
ENV SERVICE=${SERVICE}
USER node
EXPOSE 3000
ENTRYPOINT ["/bin/sh", "/app/scripts/docker-entrypoint.sh"]
