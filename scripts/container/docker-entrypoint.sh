#!/bin/sh
# Same behaviour as the official node image's entrypoint, for the stand-in
# base: a first argument that is an option or not a command goes to node;
# anything else is exec'd, so the CMD's process (node) stays PID 1.
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
