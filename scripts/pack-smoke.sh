#!/usr/bin/env bash
# `npm run test:pack`: what a player team gets from the registry, tried as they would try it. Packs the SDK
# (@stream-limiter/client) and the Video.js plugin, installs both tarballs into two scratch projects (an ESM
# Node script, and a TypeScript project with moduleResolution "bundler"), and runs each one's smoke test
# against the service on the embedded store: start (201), a heartbeat, stop (the slot is released).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scratch=$(mktemp -d "${TMPDIR:-/tmp}/stream-limiter-pack.XXXXXX")
service_pid=""
cleanup() {
  if [ -n "$service_pid" ]; then
    kill "$service_pid" 2>/dev/null || true
    wait "$service_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

echo "pack: building and packing the SDK and the plugin"
npm pack --silent --pack-destination "$scratch" -w sdk -w plugins/videojs-stream-limiter >/dev/null
client_tgz=$(ls "$scratch"/stream-limiter-client-*.tgz)
plugin_tgz=$(ls "$scratch"/videojs-stream-limiter-*.tgz)
for tgz in "$client_tgz" "$plugin_tgz"; do
  # Only built code, sources, styles and docs: no tests, configs or the repository's other files.
  unexpected=$(tar -tzf "$tgz" | grep -vE '^package/(package\.json|README\.md|style\.css|dist/(esm|cjs)/[a-z-]+\.(js|d\.ts|js\.map|json)|src/[a-z-]+\.ts)$' || true)
  if [ -n "$unexpected" ]; then
    printf 'pack: unexpected files in %s:\n%s\n' "$(basename "$tgz")" "$unexpected" >&2
    exit 1
  fi
  echo "pack: $(basename "$tgz"), $(tar -tzf "$tgz" | wc -l) files, $(du -k "$tgz" | cut -f1) KiB"
done

node scripts/ensure-build.js
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
# A 3 s lease: heartbeats every second, so the smoke tests see one without waiting long.
DYNAMODB_ENDPOINT=embedded DYNAMODB_TABLE=pack-smoke PORT=$port HOST=127.0.0.1 LEASE_SECONDS=3 LOG_LEVEL=warn \
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true node dist/main.js &
service_pid=$!
base_url="http://127.0.0.1:$port"
for _ in $(seq 1 120); do
  if node -e "fetch('$base_url/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then break; fi
  sleep 0.5
done
node -e "fetch('$base_url/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" || {
  echo "pack: the service did not become ready" >&2
  exit 1
}

install() {
  # No registry: both packages come from the tarballs, and the plugin's peer video.js is not needed in Node.
  (cd "$1" && npm install --silent --offline --no-audit --no-fund --legacy-peer-deps "$client_tgz" "$plugin_tgz")
}

echo "pack: ESM Node project"
mkdir -p "$scratch/esm"
cp scripts/pack-smoke/esm-package.json "$scratch/esm/package.json"
cp scripts/pack-smoke/smoke.mjs "$scratch/esm/smoke.mjs"
install "$scratch/esm"
(cd "$scratch/esm" && STREAM_LIMITER_URL=$base_url node smoke.mjs)

echo "pack: TypeScript project (moduleResolution bundler)"
mkdir -p "$scratch/ts/src"
cp scripts/pack-smoke/ts-package.json "$scratch/ts/package.json"
cp scripts/pack-smoke/tsconfig.json "$scratch/ts/tsconfig.json"
cp scripts/pack-smoke/smoke.mts "$scratch/ts/src/smoke.ts"
printf 'export const baseUrl = %s;\n' "'$base_url'" >"$scratch/ts/src/config.ts"
install "$scratch/ts"
(cd "$scratch/ts" && node "$root/node_modules/typescript/bin/tsc" -p . && node dist/smoke.js)
echo "pack: both scratch projects passed"
