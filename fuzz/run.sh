#!/usr/bin/env bash
# Fuzz smoke run: every cargo-fuzz target for SECONDS each (default 60).
#
#   bash fuzz/run.sh [SECONDS]      # from the repository root or from fuzz/
#
# Needs a nightly toolchain (skips with exit 0 when it is missing) and cargo-fuzz (installed if
# missing). Each target starts from the checked-in seeds in fuzz/corpus/<target>/; new inputs go
# to the scratch corpus fuzz/target/work-corpus/<target>/ so the checked-in corpus stays clean.
# Crashes land in fuzz/artifacts/<target>/. Exits non-zero if any target failed, after running
# all of them.
set -euo pipefail

secs="${1:-60}"
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bash fuzz/run.sh [SECONDS]   (SECONDS: positive integer, default 60)" >&2
    exit 2
fi

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir"

# Do not let rustup download a toolchain behind our back: a missing nightly means "skip".
if ! RUSTUP_AUTO_INSTALL=0 cargo +nightly --version >/dev/null 2>&1; then
    echo "nightly toolchain missing: fuzz smoke run skipped (rustup toolchain install nightly)"
    exit 0
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz missing: installing it"
    cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi
echo "$(cargo +nightly --version); $(cargo fuzz --version)"

mapfile -t targets < <(cargo +nightly fuzz list)
if [[ ${#targets[@]} -eq 0 ]]; then
    echo "no fuzz targets found in $fuzz_dir" >&2
    exit 1
fi

# Build everything once, with the same flags `fuzz run` uses, so the budget goes to fuzzing.
cargo +nightly fuzz build

work="$fuzz_dir/target/work-corpus"
logs="$fuzz_dir/target/fuzz-logs"
mkdir -p "$work" "$logs"

# Hard stop per target in case libFuzzer itself does not stop: budget plus build/merge slack.
limit=$((secs + 120))

# On Ctrl-C / TERM, stop the running target (timeout forwards to its process group) and exit.
run_pid=""
stop() {
    [[ -n "$run_pid" ]] && kill -TERM "$run_pid" 2>/dev/null
    wait 2>/dev/null
    echo "fuzz smoke run interrupted" >&2
    exit 130
}
trap stop INT TERM

summary=()
failed=0
for t in "${targets[@]}"; do
    seeds="$fuzz_dir/corpus/$t"
    mkdir -p "$work/$t" "$seeds"
    if compgen -G "$seeds/*" >/dev/null; then
        cp -f "$seeds"/* "$work/$t"/
    fi
    log="$logs/$t.log"
    echo "=== $t: ${secs}s (log: $log)"
    rc=0
    # The first corpus dir is the one libFuzzer writes new inputs to. `timeout` runs in its own
    # process group and signals all of it, so the fuzz binary under cargo cannot outlive it.
    timeout --kill-after=10 "$limit" \
        cargo +nightly fuzz run "$t" "$work/$t" "$seeds" -- \
        -max_total_time="$secs" -timeout=10 -dict="$fuzz_dir/ftp.dict" -max_len=4096 \
        -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 &
    run_pid=$!
    wait "$run_pid" || rc=$?
    run_pid=""
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    if [[ $rc -eq 0 ]]; then
        echo "    ok, ${execs:-?} inputs executed"
        summary+=("ok     $t  execs=${execs:-?}")
    else
        failed=1
        echo "    FAILED (exit $rc); end of $log:"
        tail -n 40 "$log" | sed 's/^/    | /'
        artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
        if [[ $rc -eq 124 || $rc -eq 137 ]]; then
            summary+=("CRASH  $t  killed after ${limit}s (exit $rc) log=$log")
        else
            summary+=("CRASH  $t  exit=$rc artifact=${artifact:-none} log=$log")
        fi
    fi
done

echo
echo "=== fuzz smoke run summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
