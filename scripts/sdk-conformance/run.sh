#!/usr/bin/env bash
# SDK conformance: drives the simulator with the official Bitvavo Python SDK (and ccxt, when it
# installs) and fails on any answer a real client would not accept.
#
# Steps: reuse or create the venv target/sdk-venv, install python-bitvavo-api==1.4.3, build and
# start `target/debug/vigil sim --listen 127.0.0.1:0 --seed 1` (it prints "listening on
# http://ADDR"), run conformance.py against http://ADDR/v2, and always stop the simulator.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/sdk-venv
log=$(mktemp -t vigil-sim-sdk.XXXXXX)
sim_pid=""

cleanup() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap cleanup EXIT

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check python-bitvavo-api==1.4.3
# ccxt is optional: checked only when it installs within a short time.
ccxt_ok=0
if timeout 120 "$venv/bin/pip" install --quiet --disable-pip-version-check "ccxt==4.5.90" >/dev/null 2>&1; then
  ccxt_ok=1
fi

cargo build --quiet -p vigil-cli
"${CARGO_TARGET_DIR:-target}/debug/vigil" sim --listen 127.0.0.1:0 --seed 1 >"$log" 2>&1 &
sim_pid=$!

addr=""
for _ in $(seq 1 100); do
  addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$log" | head -n 1)
  [ -n "$addr" ] && break
  if ! kill -0 "$sim_pid" 2>/dev/null; then
    echo "the simulator exited before listening:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "the simulator did not print 'listening on http://ADDR' within 10 s:" >&2
  cat "$log" >&2
  exit 1
fi

CCXT="$ccxt_ok" "$venv/bin/python" scripts/sdk-conformance/conformance.py "http://$addr"
