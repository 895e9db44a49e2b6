#!/bin/sh
# cli.sh - the qbench command line on good and bad input: each bad input
# must give exit code 2 and one clear line on stderr, never a crash.
# Usage: tests/cli.sh path/to/qbench
set -u
QB=${1:-./qbench}
fails=0
runs=0

expect() { # expect CODE DESCRIPTION -- ARGS...
    want=$1; what=$2; shift 3
    runs=$((runs + 1))
    err=$("$QB" "$@" 2>&1 >/dev/null)
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: $what: qbench $*: exit $got, want $want"
        echo "      stderr: $err"
        fails=$((fails + 1))
    elif [ "$want" -eq 2 ] && [ -z "$err" ]; then
        echo "FAIL: $what: qbench $*: exit 2 without a message"
        fails=$((fails + 1))
    fi
}

expect 0 "info" -- info
expect 0 "kernels" -- kernels
expect 0 "kernels csv" -- kernels --csv
expect 0 "one scalar gemm with check" -- gemm -p int8-channel -i scalar -s 7x9x33 -r 3 --check
expect 0 "all kernels, csv" -- gemm -p all -i all -s 3x17x65 -r 2 --check --csv
expect 2 "no verb" --
expect 2 "unknown verb" -- frobnicate
expect 2 "unknown precision" -- gemm -p int7 -i scalar -s 8x8x8
expect 2 "mixed is not a kernel" -- gemm -p mixed -i scalar -s 8x8x8
expect 2 "unknown isa" -- gemm -p fp32 -i sse9 -s 8x8x8
expect 2 "zero dimension" -- gemm -p fp32 -i scalar -s 0x8x8
expect 2 "absurd dimension" -- gemm -p fp32 -i scalar -s 99999999x8x8
expect 2 "too many elements" -- gemm -p fp32 -i scalar -s 1000000x1000000x8
expect 2 "malformed shape" -- gemm -p fp32 -i scalar -s 8x8
expect 2 "trailing junk in shape" -- gemm -p fp32 -i scalar -s 8x8x8y
expect 2 "negative dimension" -- gemm -p fp32 -i scalar -s -8x8x8
expect 2 "bad group" -- gemm -p int4 -i scalar -s 8x8x8 -g 48
expect 2 "bad reps" -- gemm -p fp32 -i scalar -s 8x8x8 -r 0
expect 2 "missing value" -- gemm -p
expect 2 "missing shape" -- gemm -p fp32 -i scalar
expect 2 "unknown option" -- kernels --json
expect 2 "info with args" -- info now

# an ISA this CPU lacks: exit 2 naming the missing feature
if ! "$QB" kernels --csv | grep -q '^fp32,neon,.*,yes,'; then
    expect 2 "neon on a CPU without it" -- gemm -p fp32 -i neon -s 8x8x8
fi
if ! "$QB" kernels --csv | grep -q '^fp32,vnni,.*,yes,'; then
    expect 2 "vnni on a CPU without it" -- gemm -p fp32 -i vnni -s 8x8x8
fi
# QB_FORCE_ISA caps selection
QB_FORCE_ISA=scalar "$QB" info | grep -q "selected: fp32=scalar" || {
    echo "FAIL: QB_FORCE_ISA=scalar does not cap the selection"; fails=$((fails + 1)); }

echo "cli: $runs cases, $fails failed"
[ "$fails" -eq 0 ]
