#!/usr/bin/env bash
# Vigil's main job on the embedded default, end to end and with no set-up: SQLite under
# ./vigil-data/demo/ and the built-in Bitvavo simulator on loopback (paper trading, no network).
#
# It builds `vigil`, starts `vigil sim`, initialises a fresh database, allows BTC-EUR, enables
# trading within the 25 EUR per-order cap, creates and approves one proposal, executes it through
# the hardened path, executes it AGAIN to show that the second call places nothing (I1), runs the
# reconciler, and prints the execution with its event history and the simulator's order log.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet -p vigil-cli
vigil="${CARGO_TARGET_DIR:-target}/debug/vigil"
data=vigil-data/demo
rm -rf "$data"
mkdir -p "$data"

# The simulator's public demo keys (simulator-only values, see docs/simulator.md).
export VIGIL_BITVAVO_READ_KEY=9a01f108ca025ea832ad30bacc7248be2723ea68ebe62a7c422126728f37c2e3
export VIGIL_BITVAVO_READ_SECRET=d0558ebb7759df11ce1ea4e76ae88b8a3315cd05ce37bc9db2a98da2b1025da5dddf0825ef2b23d9b3f023aaaddab34d552865cf6daf86b8c0b169cdebdb22c4
export VIGIL_BITVAVO_TRADE_KEY=a7f6f482abf7cfd2468c6ca44c1ea8dd32ece95a712e514c424381c499bf8a09
export VIGIL_BITVAVO_TRADE_SECRET=d40ebd0d67f29c2608974fa49122d7f55f9a26a7974f3de06ab574a1867e13c2436ad3e73ba7c96cf7d47c4930eac32dbed05cdc1e8cc148f3a7968a4b905d5c
export VIGIL_DATABASE_URL="sqlite://$data/vigil.db"

sim_log="$data/sim.log"
"$vigil" sim --listen 127.0.0.1:0 --seed 1 >"$sim_log" 2>&1 &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true' EXIT
addr=""
for _ in $(seq 1 100); do
  addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$sim_log" | head -n 1)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "the simulator did not start:" >&2; cat "$sim_log" >&2; exit 1; }
export VIGIL_BITVAVO_BASE_URL="http://$addr"

step() { printf '\n\033[1m$ vigil %s\033[0m\n' "$*"; }
run() { step "$*"; "$vigil" "$@"; }

echo "simulator: http://$addr   database: $VIGIL_DATABASE_URL"
run init --user demo
run allowlist add --user demo BTC-EUR
run policy set --user demo --trading-enabled true --reason "paper demo"
step "proposals create --user demo --market BTC-EUR --side buy --amount-quote 20 --rationale 'demo' --json"
proposal=$("$vigil" proposals create --user demo --market BTC-EUR --side buy --amount-quote 20 --rationale demo --json \
  | sed -n 's/^  "id": "\([0-9a-f-]*\)",$/\1/p')
echo "proposal $proposal"
run proposals approve "$proposal"
run execute --proposal "$proposal"
set +e
run execute --proposal "$proposal"
code=$?
set -e
echo "(exit code $code: already claimed, nothing was sent)"
run reconcile || true
run executions list
execution=$("$vigil" executions list --json | sed -n 's/^    "id": "\([0-9a-f-]*\)",$/\1/p' | head -n 1)
run executions show "$execution"
printf '\n\033[1morders on the simulator (its admin log):\033[0m\n'
if command -v curl >/dev/null; then
  curl -s "http://$addr/_sim/orders"; echo
fi
