#!/bin/sh
# The preload load cost table of BENCHMARKS.md (issue 15): /bin/true spawned under each
# library given, interleaved with a spawn without preload, in each environment the preload
# meets. Prints spawn_loop's medians (wall, the child's CPU time, its minor page faults) per
# row, then each library's ratio to the no-op's added wall and CPU time (the goal: <= 1.5x).
#
#   bench/c/preload_cost.sh ROUNDS LIB...
#
# The no-op C preload is built here and comes first; pass e.g. target/release/libmocket.so.
# A library that needs libmocket_shim.so must have it beside itself.
set -eu
rounds=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/spawn_loop" "$here/spawn_loop.c"
cc -O2 -shared -fPIC -o "$work/noop_preload.so" "$here/noop_preload.c" -ldl
# A per-user CA and the bundle a bare preload points at when no bundle variable is set (its
# name is FNV-1a 64 of five newlines: mocket_control::trust_names::bundle_file_name).
ca="$work/cahome/.local/share/mocket/ca"
mkdir -p "$ca" "$work/emptyhome"
echo CA >"$ca/cert.pem"
echo BUNDLE >"$ca/bundle-fa3b9b503602567d.pem"
loop() {
    echo "## $1"
    shift
    env -u XDG_DATA_HOME -u MOCKET_CA_CERT -u MOCKET_CA_KEY -u SSL_CERT_FILE \
        -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE -u AWS_CA_BUNDLE -u GIT_SSL_CAINFO -u PIP_CERT \
        -u NODE_EXTRA_CA_CERTS -u MOCKET_SOCKET MOCKET_CONFIG=/tmp/mocks.json MOCKET_LOG=error \
        "$@" "$work/spawn_loop" "$rounds" "$work/noop_preload.so" $libs -- /bin/true |
        awk -v noop="$work/noop_preload.so" '
            { print }
            $3 == "added" { lib = $2; sub(/:$/, "", lib); added[$1, lib] = $4 + 0; libs[lib] = 1 }
            END {
                for (lib in libs) if (lib != noop)
                    printf "ratio %s: wall %.2fx, cpu %.2fx the no-op'"'"'s\n", lib,
                        added["wall", lib] / added["wall", noop], added["cpu", lib] / added["cpu", noop]
            }'
}
# One word per library (paths without spaces).
libs=$*
loop "bare LD_PRELOAD, no per-user CA" HOME="$work/emptyhome"
loop "MOCKET_SOCKET set, as under mocket run" HOME="$work/emptyhome" \
    MOCKET_SOCKET=/nonexistent/m.sock
loop "bare, per-user CA, bundle variables already pointed by a parent" \
    HOME="$work/cahome" SSL_CERT_FILE="$ca/bundle-fa3b9b503602567d.pem"
loop "bare, per-user CA, variables not pointed yet: the tree's first process" \
    HOME="$work/cahome"
loop "bare, relative MOCKET_CONFIG: the tree's first process anchors it" \
    HOME="$work/emptyhome" MOCKET_CONFIG=mocks.json
