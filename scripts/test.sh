#!/usr/bin/env bash
# Runs every Rebound test. Installs the system packages the tests need
# (apt-get) when they are missing, then: fmt check, clippy -D warnings,
# cargo test --workspace, then every fuzz target for REBOUND_FUZZ_SECS
# seconds (default 45; 0 skips them: scripts/fuzz.sh, docs/FUZZING.md).
# Used by developers and by .ci/run.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo DEBIAN_FRONTEND=noninteractive "$@"; fi
}

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found. Rebound needs a Rust toolchain >= 1.89 (edition 2024, let-chains, AVX-512 intrinsics)." >&2
    echo "       Install one with rustup, then run this script again." >&2
    exit 1
fi

# Debian packages the tests need, as "what:package": the package is
# installed when `what` is missing, `what` being a command on PATH or, when
# it starts with "/", a file that must exist (programs outside PATH, plugins).
# strongSwan (cli/tests/strongswan.rs): charon, swanctl, the openssl
# plugin (curve25519, AES-GCM) from libstrongswan-standard-plugins, and the
# kernel-libipsec plugin (userspace ESP: the test machines have no ESP in the
# kernel) from libcharon-extra-plugins; `ip` for its network namespaces.
# systemd-analyze (cli/tests/service.rs) verifies the unit in dist/.
# redis-server and redis-cli (cli/tests/cluster*.rs, redis_harness.rs): each
# test starts its own servers on loopback, free ports, temporary dirs;
# openssl makes the certificates of the TLS test (cluster_outage.rs).
NEEDED=(
    "redis-server:redis-server"
    "redis-cli:redis-tools"
    "openssl:openssl"
    "systemd-analyze:systemd"
    "tshark:tshark"
    "ip:iproute2"
    "/usr/lib/ipsec/charon:strongswan-charon"
    "/usr/sbin/swanctl:strongswan-swanctl"
    "/usr/lib/ipsec/plugins/libstrongswan-openssl.so:libstrongswan-standard-plugins"
    "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so:libcharon-extra-plugins"
)

present() {
    case $1 in
        /*) [ -e "$1" ] ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

missing=()
for item in "${NEEDED[@]}"; do
    what=${item%%:*}
    pkg=${item#*:}
    present "$what" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for comp in rustfmt clippy; do
    if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
        if ! command -v rustup >/dev/null 2>&1; then
            echo "error: cargo $comp is missing and rustup is not there to add it" >&2
            exit 1
        fi
        log "adding rustup component $comp"
        rustup component add "$comp"
    fi
done

log "cargo fmt --check"
cargo fmt --all -- --check
# The fuzz crate is outside the workspace: checked on its own.
cargo fmt --manifest-path fuzz/Cargo.toml -- --check

log "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo test --workspace"
cargo test --workspace

# The kernels' portable fallback, forced: every kernel test and every
# engine test (tickets, SK payloads, key derivation) again on the plain
# RustCrypto path, so both paths are tested on every run.
log "cargo test with REBOUND_KERNELS=portable"
REBOUND_KERNELS=portable cargo test -p rebound-kernels -p rebound-engine

# Tests too slow for a debug build (10 million guard claims; half-open
# floods of 3 million requests at the real gateway) run in release.
log "release-only tests"
cargo test --release -p rebound-engine --test ticket_guard -- --include-ignored ten_million
# Memory per SA held by the control plane (an RSS measurement: alone in its
# binary, release for the fixture's client crypto).
cargo test --release -p rebound-bench --test sa_memory -- --include-ignored
cargo test --release -p rebound --test hostile_bin -- --include-ignored three_million_requests a_million_random

# Fuzzing: every target for a bounded time (about 5 minutes with the
# default 45 s each, plus the targets' build); any crash fails the suite.
log "fuzzing (scripts/fuzz.sh, REBOUND_FUZZ_SECS=${REBOUND_FUZZ_SECS:-45} per target)"
scripts/fuzz.sh
