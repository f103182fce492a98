#!/bin/sh
# check_ldd.sh — every shared library the programs link comes from a package
# the Dockerfile's runtime stage installs (make test).
#
#     sh tests/deploy/check_ldd.sh [DOCKERFILE [BINDIR]]
#
# Host side, on the binaries `make` built (the image's builder runs the same
# make on the same Debian release): for each of zhook-ingress, -scheduler,
# -deliverer, -verify, -keygen,
#   - each library it names directly (ELF NEEDED) must belong (dpkg -S) to a
#     package on the runtime stage's apt-get install line, or to libc6 (the C
#     library of every Debian base image);
#   - each library it loads indirectly (ldd) must belong to a package in the
#     dependency closure of that line (apt-cache depends --recurse), which is
#     what apt installs with it.
# Prints the mapping and exits 1 naming every library that breaks the rule.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dockerfile=${1:-$root/Dockerfile}
bindir=${2:-$root/bin}
programs="zhook-ingress zhook-scheduler zhook-deliverer zhook-verify zhook-keygen"

# the runtime stage's apt-get install arguments (package-name tokens only)
pkgs=$(awk '
    /^FROM .* AS runtime/ { rt = 1; next }
    /^FROM / { rt = 0 }
    rt && /apt-get install/ { inst = 1 }
    inst {
        for (i = 1; i <= NF; i++) {
            if ($i ~ />/) { inst = 0; break }
            if ($i ~ /^[a-z0-9][a-z0-9.+-]+$/ && $i != "apt-get" && $i != "install") print $i
        }
    }' "$dockerfile" | sort -u)
[ -n "$pkgs" ] || { echo "check_ldd: no runtime apt-get install line in $dockerfile"; exit 1; }
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances $pkgs 2>/dev/null | grep -v '^ ' | sed 's/:.*//' | sort -u)
[ -n "$closure" ] || { echo "check_ldd: apt-cache depends gave nothing for: $pkgs"; exit 1; }

# package owning a library path (bookworm registers some under /usr/lib, some under /lib)
cache=$(mktemp "${TMPDIR:-/tmp}/zh_ldd_owner.XXXXXX") || exit 1
trap 'rm -f "$cache"' EXIT
owner () {
    o=$(awk -v p="$1" '$1 == p {print $2; exit}' "$cache")
    [ -n "$o" ] && { echo "$o"; return 0; }
    o=$(owner_dpkg "$1") || return 1
    echo "$1 $o" >>"$cache"
    echo "$o"
}
owner_dpkg () {
    for p in "$1" "$(readlink -f "$1")" "/usr$1" "${1#/usr}"; do
        o=$(dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1)
        [ -n "$o" ] && { echo "$o"; return 0; }
    done
    return 1
}
in_list () {
    printf '%s\n' "$2" | grep -qx "$1"
}

bad=0
checked=0
for prog in $programs; do
    bin=$bindir/$prog
    [ -x "$bin" ] || { echo "check_ldd: $bin is not built"; exit 1; }
    needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    ldd "$bin" | awk '/=>/ && $3 ~ /^\// {print $1, $3}' >"${TMPDIR:-/tmp}/zh_ldd.$$"
    if grep -q "not found" "${TMPDIR:-/tmp}/zh_ldd.$$"; then
        echo "check_ldd: $prog: a library is not found on this host"
        bad=1
    fi
    while read -r soname path; do
        pkg=$(owner "$path") || { echo "check_ldd: $prog: $path belongs to no package"; bad=1; continue; }
        checked=$((checked + 1))
        if printf '%s\n' "$needed" | grep -qx "$soname"; then
            if in_list "$pkg" "$pkgs"; then
                echo "  $prog: $soname -> $pkg (runtime stage)"
            elif [ "$pkg" = libc6 ]; then
                echo "  $prog: $soname -> $pkg (the base image's C library)"
            else
                echo "check_ldd: $prog links $soname directly, from $pkg, which the runtime stage does not install"
                bad=1
            fi
        elif ! in_list "$pkg" "$closure"; then
            echo "check_ldd: $prog loads $soname (from $pkg), outside the runtime packages' dependencies"
            bad=1
        fi
    done <"${TMPDIR:-/tmp}/zh_ldd.$$"
    rm -f "${TMPDIR:-/tmp}/zh_ldd.$$"
done
if [ "$bad" != 0 ]; then
    echo "check_ldd: FAIL ($dockerfile runtime packages: $(echo $pkgs))"
    exit 1
fi
echo "check_ldd: ok, $checked libraries of $(echo $programs | wc -w) programs come from: $(echo $pkgs)"

# the check can fail: a copy of the Dockerfile whose runtime stage lacks
# libcurl4 (one of its apt lines) must be refused
[ -n "${ZH_LDD_MUTANT:-}" ] && exit 0
mutant=$(mktemp "${TMPDIR:-/tmp}/zh_Dockerfile.XXXXXX") || exit 1
sed '/^[[:space:]]*libcurl4[[:space:]]*\\$/d' "$dockerfile" >"$mutant"
if cmp -s "$dockerfile" "$mutant"; then
    echo "check_ldd: the mutation (drop the libcurl4 line) changed nothing: test out of date"
    rm -f "$mutant"
    exit 1
fi
if ZH_LDD_MUTANT=1 sh "$0" "$mutant" "$bindir" >"$mutant.out" 2>&1; then
    echo "check_ldd: a Dockerfile without libcurl4 was NOT refused"
    rm -f "$mutant" "$mutant.out"
    exit 1
fi
echo "check_ldd: a Dockerfile without libcurl4 is refused: $(grep -m1 'links' "$mutant.out")"
rm -f "$mutant" "$mutant.out"
