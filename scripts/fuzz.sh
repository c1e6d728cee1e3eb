#!/usr/bin/env bash
# Rebound's fuzz targets (fuzz/, docs/FUZZING.md), run by scripts/test.sh:
# installs cargo-fuzz when it is missing, builds every target with
# AddressSanitizer, writes the seed corpora (the fixtures' own messages and
# a capture of a real storm), replays the committed regression inputs
# (fuzz/regressions/TARGET/), then fuzzes each target for
# REBOUND_FUZZ_SECS seconds (default 45; 0 skips this script). Exits 1 when
# a target crashes (panic, sanitizer error, timeout, out of memory); the
# input is then in fuzz/artifacts/TARGET/.
#
# Usage: scripts/fuzz.sh [TARGET...]   (default: every target)
#
# cargo-fuzz passes unstable rustc flags (-Zsanitizer=address and the
# coverage passes), which only a nightly compiler accepts; RUSTC_BOOTSTRAP=1
# lets the stable compiler accept them, for this build only.
set -euo pipefail

cd "$(dirname "$0")/.."

SECS=${REBOUND_FUZZ_SECS:-45}
ALL=(wire ticket resume_responder resumed_auth full_exchange config keyfile)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

log() { printf '\n==> %s\n' "$*"; }

if [ "$SECS" = 0 ]; then
    echo "fuzzing skipped (REBOUND_FUZZ_SECS=0)"
    exit 0
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    if ! cargo install cargo-fuzz --locked; then
        echo "warning: cargo-fuzz could not be installed (offline?): fuzzing skipped" >&2
        exit 0
    fi
fi

export RUSTC_BOOTSTRAP=1
# -a: debug assertions and overflow checks on, as in the tests.
FLAGS=(-a)

start=$(date +%s)
log "cargo fuzz build (${#TARGETS[@]} targets, AddressSanitizer)"
for t in "${TARGETS[@]}"; do
    cargo fuzz build "${FLAGS[@]}" "$t"
done
echo "built in $(( $(date +%s) - start )) s"

# Seeds: a real storm's capture (full exchanges, resumptions, some
# garbage), cut into messages by each target's seed writer, which adds the
# fixture's own messages (those decrypt with the fixture's keys).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "seed corpora from rebound storm --full --pcap"
cargo run -q -p rebound -- storm --clients 40 --full --garbage 0.1 \
    --pcap "$work/storm.pcap" >"$work/storm.log" 2>&1 || {
    cat "$work/storm.log" >&2
    echo "error: the storm for the seed capture failed" >&2
    exit 1
}
for t in "${TARGETS[@]}"; do
    if ! REBOUND_FUZZ_PCAP="$work/storm.pcap" REBOUND_FUZZ_SEEDS="fuzz/corpus/$t" \
        cargo fuzz run "${FLAGS[@]}" "$t" >"$work/$t.seeds" 2>&1; then
        cat "$work/$t.seeds" >&2
        echo "error: $t could not write its seeds" >&2
        exit 1
    fi
    grep '^wrote' "$work/$t.seeds"
done

failed=()
for t in "${TARGETS[@]}"; do
    if [ -d "fuzz/regressions/$t" ] && [ -n "$(ls -A "fuzz/regressions/$t")" ]; then
        log "$t: regression inputs"
        if ! cargo fuzz run "${FLAGS[@]}" "$t" "fuzz/regressions/$t"/* -- -runs=1 \
            >"$work/$t.regress" 2>&1; then
            tail -40 "$work/$t.regress" >&2
            failed+=("$t (regression input)")
            continue
        fi
    fi
    log "$t: fuzzing for $SECS s"
    if cargo fuzz run "${FLAGS[@]}" "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECS" -timeout=10 -print_final_stats=1 >"$work/$t.log" 2>&1; then
        grep -E '^(#[0-9]+\s+DONE|Done )' "$work/$t.log" | tail -2
    else
        tail -60 "$work/$t.log" >&2
        failed+=("$t")
    fi
done

echo "fuzzing took $(( $(date +%s) - start )) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "error: fuzz targets crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
