#!/bin/sh
# run.sh - the bad-input suite (issue 15): every case must end with exit 0, 1
# or 2, never a crash (signal) or a sanitizer report, and an exit 2 must say
# something that names the file (or, for option cases, the option).
#   1. cases.tsv: explicit cases, one per line: EXIT<TAB>MESSAGE FRAGMENT (- for none)<TAB>ARGS
#      (@T@ = this run's scratch directory holding the fixtures below).
#   2. generated cases: each valid fixture (ONNX model, TensorProto input,
#      IDX images and labels, scenario INI, results CSV, energy table) cut
#      short at many lengths and with bytes overwritten at many offsets,
#      each fed to the verb that reads it.
# Usage: tests/bad_inputs/run.sh path/to/qbench   (QB_BAD_MUTATIONS=N: mutations per fixture, default 50)
set -u
QB=${1:-./qbench}
HERE=$(cd "$(dirname "$0")" && pwd)
N=${QB_BAD_MUTATIONS:-50}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
runs=0 fails=0
declare_fail() { fails=$((fails + 1)); echo "FAIL: $*"; }

# one case: check CODE/stderr rules; $1 = wanted code or "any", $2 = fragment or "", rest: qbench args
check() {
    want=$1 frag=$2; shift 2
    runs=$((runs + 1))
    # shellcheck disable=SC2086
    # LIMIT_KB=N among the case's words: run under ulimit -v N (a file that
    # claims gigabytes must be refused without allocating them); skipped for
    # a sanitizer build, whose shadow memory needs terabytes of address space
    lim=$(printf '%s\n' ${ENVS:-} | sed -n 's/^LIMIT_KB=//p')
    if [ -n "$lim" ] && ! grep -q __asan_init "$QB"; then
        err=$( (ulimit -v "$lim" && env ${ENVS:-} "$QB" "$@") 2>&1 >/dev/null)
    else
        err=$(env ${ENVS:-} "$QB" "$@" 2>&1 >/dev/null)
    fi
    got=$?
    repro="${ENVS:+$ENVS }qbench $*"
    if [ "$got" -ge 128 ] || [ "$got" -gt 2 ]; then
        declare_fail "$repro: exit $got (a crash?)"; echo "      stderr: $(printf '%s' "$err" | head -3)"; return
    fi
    if printf '%s' "$err" | grep -q 'AddressSanitizer\|runtime error:\|LeakSanitizer'; then
        declare_fail "$repro: sanitizer report"; printf '%s\n' "$err" | head -5; return
    fi
    if [ "$want" != any ] && [ "$got" -ne "$want" ]; then
        declare_fail "$repro: exit $got, want $want"; echo "      stderr: $(printf '%s' "$err" | head -2)"; return
    fi
    if [ "$got" -eq 2 ] && [ -z "$err" ]; then
        declare_fail "$repro: exit 2 without a message"; return
    fi
    if [ -n "$frag" ] && [ "$got" -eq 2 ] && ! printf '%s' "$err" | grep -q -- "$frag"; then
        declare_fail "$repro: stderr does not name '$frag'"; echo "      stderr: $(printf '%s' "$err" | head -2)"
    fi
}

# ---- fixtures ----
D=/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding
cp "$D/model.onnx" "$T/model.onnx"
cp "$D/test_data_set_0/input_0.pb" "$T/input.pb"
cp "$D/test_data_set_0/input_1.pb" "$T/weight.pb"
# files whose headers claim gigabytes they do not hold (libFuzzer found the
# allocations: fuzz-inputs out-of-memory, fuzz-idx 14 s per input)
printf '\010\240\234\001\010\240\234\001\020\001\112\004\000\000\200\077' >"$T/claim.pb" # 20000x20000 float, 4 bytes
mkdir -p "$T/idxclaim"
{ printf '\000\000\010\003\000\036\204\200\000\000\000\034\000\000\000\034'; head -c 784 /dev/zero; } >"$T/idxclaim/train-images-idx3-ubyte" # 2000000x28x28
printf '\000\000\010\001\000\000\000\001\000' >"$T/idxclaim/train-labels-idx1-ubyte"
cp "$T/idxclaim/train-images-idx3-ubyte" "$T/idxclaim/t10k-images-idx3-ubyte"
cp "$T/idxclaim/train-labels-idx1-ubyte" "$T/idxclaim/t10k-labels-idx1-ubyte"
mkdir -p "$T/idx"
F=/usr/share/datasets/fashion-mnist
# the first 100 test images and labels, uncompressed, as a small valid IDX pair
{ printf '\000\000\010\003\000\000\000\144\000\000\000\034\000\000\000\034'; gzip -dc "$F/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c 78400; } >"$T/idx/t10k-images-idx3-ubyte"
{ printf '\000\000\010\001\000\000\000\144'; gzip -dc "$F/t10k-labels-idx1-ubyte.gz" | tail -c +9 | head -c 100; } >"$T/idx/t10k-labels-idx1-ubyte"
cp "$T/idx/t10k-images-idx3-ubyte" "$T/idx/train-images-idx3-ubyte"
cp "$T/idx/t10k-labels-idx1-ubyte" "$T/idx/train-labels-idx1-ubyte"
"$QB" train -m mlp -d synthetic -e 1 --limit 64 --val 16 -o "$T/mlp.onnx" >/dev/null 2>&1 || declare_fail "fixture: train mlp"
printf '%s\n' '[axes]' 'models = g dw' 'precisions = fp32 int8-channel' 'methods = none ptq-minmax' 'isas = scalar' \
    '[measure]' 'warmup = 1' 'iterations = 3' 'min_time_ms = 0' 'counters = none' '[model g]' 'gemm = 4x8x16' \
    '[model dw]' 'dwconv = 6x6x8' >"$T/k.ini"
"$QB" sweep "$T/k.ini" -q -o "$T/s" >/dev/null 2>&1 || declare_fail "fixture: kernel sweep"
cp "$T/s/results.csv" "$T/results.csv"
# a model of two inputs (x, y) and data folders of its samples, one folder per sample (ONNX test-data layout)
A=/usr/share/libonnx-testdata/data/node/test_add
cp "$A/model.onnx" "$T/add.onnx"
for f in ok missing extra shape; do mkdir -p "$T/two_$f/s0" "$T/two_$f/s1"; cp "$A"/test_data_set_0/input_*.pb "$T/two_$f/s0/"; cp "$A"/test_data_set_0/input_*.pb "$T/two_$f/s1/"; done
rm "$T/two_missing/s1/input_1.pb"
cp "$A/test_data_set_0/input_1.pb" "$T/two_extra/s1/input_2.pb"
cp "$D/test_data_set_0/input_1.pb" "$T/two_shape/s1/input_1.pb"
mkdir -p "$T/two_flat"; cp "$A/test_data_set_0/input_0.pb" "$T/two_flat/a.pb"; cp "$A/test_data_set_0/input_0.pb" "$T/two_flat/b.pb"
ENERGY=$(dirname "$0")/../../datasets/energy/horowitz-45nm.csv
cp "$ENERGY" "$T/energy.csv"
# layer plans (docs/quantization.md "Layer plans"): one good, three bad
printf '%s\n' '[plan]' 'precision = int8-channel' '[layers]' 'Gemm_1 = fp32' >"$T/plan.ini"
printf '%s\n' '[layers]' 'Gemm_99 = fp32' >"$T/plan-unknown-layer.ini"
printf '%s\n' '[layers]' 'Gemm_1 = int7' >"$T/plan-unknown-prec.ini"
printf '%s\n' '[plan]' 'precision = int4' 'Gemm_1 fp32' >"$T/plan-syntax.ini"
printf '%s\n' '[patterns]' 'Conv* = int4' >"$T/plan-no-match.ini"
# scenarios whose models a run would refuse (sweep --dry-run must refuse them too): onnx-NAME.ini names
# the model file NAME.onnx of @T@ (model.onnx: a good one)
mkdir -p "$T/dir.onnx" "$T/emptydir" && echo "not a model" >"$T/text.onnx" && head -c 100 "$T/model.onnx" >"$T/cut.onnx"
for o in model nothere dir text cut; do
    printf '%s\n' '[axes]' 'models = x' 'precisions = fp32 int8-channel' 'isas = scalar' '[measure]' 'iterations = 3' \
        'min_time_ms = 0' 'counters = none' 'eval_samples = 8' 'calib_samples = 4' \
        '[model x]' "onnx = $T/$o.onnx" 'input = 1x1x7x5' >"$T/onnx-$o.ini"
done
printf '%s\n' '[axes]' 'models = z' 'precisions = fp32' 'isas = scalar' '[model z]' 'zoo = mlp' 'dataset = mine' \
    "data_dir = $T/nodir" >"$T/datadir-missing.ini"
printf '%s\n' '[axes]' 'models = z' 'precisions = fp32' 'isas = scalar' '[model z]' 'zoo = mlp' 'dataset = mine' \
    "data_dir = $T/model.onnx" >"$T/datadir-file.ini"
printf '%s\n' '[axes]' 'models = z' 'precisions = fp32' 'isas = scalar' '[model z]' 'zoo = mlp' 'dataset = mine' \
    "data_dir = $T/emptydir" >"$T/datadir-empty.ini"
sed "s#^\[measure\]#[measure]\nenergy_model = $T/text.onnx#" "$T/onnx-model.ini" >"$T/energy-bad.ini"

# ---- 1. the table ----
while IFS='	' read -r code frag args; do
    case $code in '#'* | '') continue ;; esac
    args=$(printf '%s' "$args" | sed "s#@T@#$T#g")
    frag=$(printf '%s' "$frag" | sed "s#@T@#$T#g")
    [ "$frag" = - ] && frag=""
    # shellcheck disable=SC2086
    eval "set -- $args"
    envs="" # leading VAR=VALUE words: the case's environment
    while [ $# -gt 0 ]; do case $1 in [A-Z]*=*) envs="$envs $1"; shift ;; *) break ;; esac; done
    ENVS=$envs check "$code" "$frag" "$@"
done <"$HERE/cases.tsv"
table_runs=$runs

# ---- 2. mutations ----
# cut FILE K OUT: the first K bytes; flip FILE OFFSET OUT: one byte replaced by 0xff or 0x00
cut() { head -c "$2" "$1" >"$3"; }
flip() {
    cp "$1" "$3"
    printf "$([ $(( $2 % 2 )) -eq 0 ] && echo '\377' || echo '\000')" | dd of="$3" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
# mutate NAME FILE OUT FRAGMENT VERB-ARGS...: each mutation of FILE is written to OUT, which ARGS read;
# an exit 2 must name FRAGMENT (the file, or the data directory holding it)
mutate() {
    name=$1 file=$2 out=$3 frag=$4; shift 4
    size=$(wc -c <"$file")
    i=0
    while [ $i -lt "$N" ]; do
        if [ $((i % 2)) -eq 0 ]; then
            k=$(( (size * (i / 2 + 1)) / (N / 2 + 1) )); cut "$file" "$k" "$out"
        else
            k=$(( (size * i * 7919 / N) % size )); flip "$file" "$k" "$out"
        fi
        check any "$frag" "$@"
        i=$((i + 1))
    done
    cp "$file" "$out"
    echo "bad_inputs: $name: $N mutations of $(basename "$file") ($size bytes)"
}
mkdir -p "$T/mo" "$T/idxm"
mutate onnx "$T/model.onnx" "$T/m.onnx" m.onnx inspect "$T/m.onnx"
mutate tensorproto "$T/input.pb" "$T/m.pb" m.pb run "$T/model.onnx" --input "$T/m.pb" --input "$T/weight.pb" -o "$T/mo"
mutate scenario "$T/k.ini" "$T/m.ini" m.ini sweep "$T/m.ini" --dry-run
mutate results "$T/results.csv" "$T/m.csv" m.csv table "$T/m.csv"
mutate merge "$T/results.csv" "$T/m.csv" m.csv merge "$T/m.csv" -o "$T/mo/merged.csv"
mutate energy "$T/energy.csv" "$T/e.csv" e.csv sweep "$T/k.ini" -q -o "$T/mo/e" --resume --energy-model "$T/e.csv"
cp "$T/idx/"* "$T/idxm/"
mutate idx-images "$T/idx/t10k-images-idx3-ubyte" "$T/idxm/t10k-images-idx3-ubyte" idxm \
    eval "$T/mlp.onnx" -d fashion-mnist --data-dir "$T/idxm" --limit 20
mutate idx-labels "$T/idx/t10k-labels-idx1-ubyte" "$T/idxm/t10k-labels-idx1-ubyte" idxm \
    eval "$T/mlp.onnx" -d fashion-mnist --data-dir "$T/idxm" --limit 20
echo "bad_inputs: $runs cases ($table_runs from cases.tsv, $((runs - table_runs)) generated), $fails failed"
[ "$fails" -eq 0 ]
