#!/usr/bin/env bash
# Checks the sans-IO promise of ftp-proto with `cargo tree`:
# - with no features it depends on no async runtime and no async I/O traits at all;
# - feature `tokio` adds tokio-util's codec traits but none of tokio's runtime features
#   (no rt, net, time, fs, process, signal, io-std);
# - feature `async-std` adds only the futures-io and futures-core traits (not async-std itself).
# Each feature also builds on its own. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check-runtime-free.sh: $*" >&2; exit 1; }
tree() { cargo tree --locked -p ftp-proto -e normal --prefix none "$@" | sort -u; }

runtime='^(tokio|tokio-util|mio|async-std|async-io|async-executor|smol|futures|futures-util|futures-io|futures-core|bytes) '
plain=$(tree)
if grep -E "$runtime" <<<"$plain"; then
    fail "ftp-proto without features depends on the crates above"
fi
echo "no features: $(wc -l <<<"$plain") crates, no runtime"

with_tokio=$(tree --features tokio)
grep -q '^tokio-util ' <<<"$with_tokio" || fail "feature tokio does not bring tokio-util"
tokio_features=$(cargo tree --locked -p ftp-proto -e features --features tokio -i tokio --prefix none |
    sed -n 's/^tokio feature "\([^"]*\)".*/\1/p' | sort -u | tr '\n' ' ')
for forbidden in rt rt-multi-thread net time fs process signal io-std; do
    if grep -qw -- "$forbidden" <<<"$tokio_features"; then
        fail "feature tokio enables tokio's \"$forbidden\" (enabled: $tokio_features)"
    fi
done
echo "feature tokio: tokio features [$tokio_features] (no runtime)"

with_async_std=$(tree --features async-std)
if grep -E '^(async-std|async-io|async-executor|smol|tokio|mio) ' <<<"$with_async_std"; then
    fail "feature async-std brings a runtime"
fi
grep -q '^futures-io ' <<<"$with_async_std" || fail "feature async-std does not bring futures-io"
echo "feature async-std: futures-io traits only"

cargo check --locked -q -p ftp-proto --no-default-features
cargo check --locked -q -p ftp-proto --no-default-features --features tokio
cargo check --locked -q -p ftp-proto --no-default-features --features async-std
echo "ftp-proto builds with no features, with tokio, with async-std"
