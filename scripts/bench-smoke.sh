#!/usr/bin/env bash
# Runs vigil-bench in --quick mode (a debug build is fine: seconds, not minutes) on both back
# ends and fails if it fails: a broken harness, or a correctness check of the bench (the retry
# storm must place exactly one order; every scan job is leased once; every bench execution
# places its order, and (g)'s orders through `vigil run --paper` reach its simulator; that
# process stops cleanly on SIGTERM). It never fails on a time. PostgreSQL comes from
# VIGIL_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres); outside CI an
# unreachable server skips that half with one line, under CI=true it fails. (g) runs the `vigil`
# binary next to the bench's, so it is built first.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BENCH_SMOKE_OUT:-target/bench/smoke.json}"
cargo build --quiet -p vigil-cli
cargo run --quiet -p vigil-bench -- --quick --backend both --out "$out"
echo "bench-smoke: ok (report: $out and ${out%.json}.md)"
