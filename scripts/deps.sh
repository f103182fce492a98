#!/bin/sh
# deps.sh — make sure the Debian packages named as arguments are installed.
# As root: installs the missing ones with apt-get. Otherwise: prints the exact
# apt-get line and fails, so `make run` / `make test` never half-build.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ]; then
    echo "deps: installing:$missing"
    apt-get update -qq || exit 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
        || exit 1
    exit 0
fi
echo "deps: missing Debian packages. Run as root:"
echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y$missing"
exit 1
