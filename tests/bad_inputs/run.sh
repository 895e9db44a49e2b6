#!/bin/sh
# run.sh - the bad-input suite (issue 15): every case must end with exit 0, 1
# or 2, never a crash (signal) or a sanitizer report, and an exit 2 must say
# something that names the file (or, for option cases, the option).
#   1. cases.tsv: explicit cases, one per line: EXIT<TAB>MESSAGE FRAGMENT (- for none)<TAB>ARGS
#      (@T@ = this run's scratch directory holding the fixtures below).
#   2. generated cases: each valid fixture (ONNX model, TensorProto input,
#      IDX images and labels, scenario INI, results CSV, energy table; and,
#      half as many each, a data folder's .npy, PNG, JPEG, WAV and raw
#      float32 files, a layer plan, a QAT ranges file, a quantized-model
#      cache entry's key file and its model) cut short at many lengths and
#      with bytes overwritten at many offsets, each fed to the verb that
#      reads it.
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
# two Gemm layers that share the name fc (ONNX does not require unique node names), and a plan for them
W16=$(i=1; while [ $i -le 16 ]; do printf 'float_data: 0.%d ' $i; i=$((i + 1)); done)
printf 'ir_version: 7\nopset_import { domain: "" version: 13 }\ngraph { name: "g"\n%s\n%s\n%s\n%s\n%s\n%s\n}\n' \
    'node { input: "x" input: "w1" output: "h" name: "fc" op_type: "Gemm" }' \
    'node { input: "h" input: "w2" output: "y" name: "fc" op_type: "Gemm" }' \
    "initializer { name: \"w1\" dims: 4 dims: 4 data_type: 1 $W16 }" "initializer { name: \"w2\" dims: 4 dims: 4 data_type: 1 $W16 }" \
    'input { name: "x" type { tensor_type { elem_type: 1 shape { dim { dim_value: 1 } dim { dim_value: 4 } } } } }' \
    'output { name: "y" type { tensor_type { elem_type: 1 } } }' |
    protoc-c --encode=onnx.ModelProto --proto_path=/usr/include/onnx onnx.proto >"$T/dupnames.onnx" ||
    declare_fail "fixture: dupnames.onnx (protoc-c)"
# ... and two whose names differ only in a form feed, which INI readers strip from a key's edge
printf 'ir_version: 7\nopset_import { domain: "" version: 13 }\ngraph { name: "g"\n%s\n%s\n%s\n%s\n%s\n%s\n}\n' \
    'node { input: "x" input: "w1" output: "h" name: "fc" op_type: "Gemm" }' \
    'node { input: "h" input: "w2" output: "y" name: "\014fc" op_type: "Gemm" }' \
    "initializer { name: \"w1\" dims: 4 dims: 4 data_type: 1 $W16 }" "initializer { name: \"w2\" dims: 4 dims: 4 data_type: 1 $W16 }" \
    'input { name: "x" type { tensor_type { elem_type: 1 shape { dim { dim_value: 1 } dim { dim_value: 4 } } } } }' \
    'output { name: "y" type { tensor_type { elem_type: 1 } } }' |
    protoc-c --encode=onnx.ModelProto --proto_path=/usr/include/onnx onnx.proto >"$T/ffnames.onnx" ||
    declare_fail "fixture: ffnames.onnx (protoc-c)"
printf '%s\n' '[ops]' 'Gemm = int4' >"$T/gemm-int4.ini"
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

# data folders of the mlp's input (1x1x28x28 float32), three samples each: .npy, raw float32, WAV
# (784 16-bit samples), PNG and JPEG (gnuplot's 28x28 charts)
for k in npy raw wav png jpg; do mkdir -p "$T/data-$k"; done
for i in 1 2 3; do
    { printf '\223NUMPY\001\000\166\000'; printf "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }%*s\n" 50 ''
      head -c 3136 /dev/zero | tr '\0' "\07$i"; } >"$T/data-npy/s$i.npy"
    head -c 3136 /dev/zero | tr '\0' "\07$i" >"$T/data-raw/s$i.raw"
    { printf 'RIFF\104\006\000\000WAVEfmt \020\000\000\000\001\000\001\000\200\076\000\000\000\175\000\000\002\000\020\000data\040\006\000\000'
      head -c 1568 /dev/zero | tr '\0' "\00$i"; } >"$T/data-wav/s$i.wav"
    gnuplot -e "set terminal png size 28,28; set output '$T/data-png/s$i.png'; unset border; unset tics; plot sin($i*x) notitle" 2>/dev/null
    gnuplot -e "set terminal jpeg size 28,28; set output '$T/data-jpg/s$i.jpg'; unset border; unset tics; plot sin($i*x) notitle" 2>/dev/null
done
# a model cache of the suite's own (QAT ranges, quantized-model cache entries): the mlp fine-tuned by QAT
# (its .ranges file) and one sweep cell's quantized model (NAME.onnx + NAME.onnx.key)
mkdir -p "$T/cache"
QB_MODEL_CACHE="$T/cache" "$QB" eval "$T/mlp.onnx" -d synthetic --limit 8 --calib 8 --method qat -p int8-channel \
    >/dev/null 2>&1 || declare_fail "fixture: QAT ranges"
printf '%s\n' '[axes]' 'models = x' 'precisions = int8-channel' 'methods = ptq-minmax' 'isas = scalar' '[measure]' \
    'warmup = 1' 'iterations = 3' 'min_time_ms = 0' 'counters = none' 'eval_samples = 8' 'calib_samples = 8' \
    '[model x]' "onnx = $T/mlp.onnx" 'dataset = synthetic' >"$T/q.ini"
QB_MODEL_CACHE="$T/cache" "$QB" sweep "$T/q.ini" -q -o "$T/qs" >/dev/null 2>&1 || declare_fail "fixture: quantized cell"

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
# both layers named fc were quantized as the plan says (the second was left float, and the first took
# the second's input scale, when layers were looked up by name alone)
runs=$((runs + 1))
[ "$("$QB" quantize "$T/dupnames.onnx" -d none -p int8-channel --plan "$T/dup-saved.ini" -o "$T/dupq3.onnx" 2>/dev/null |
    grep -c '^ *fc  *Gemm  *int4')" -eq 2 ] || declare_fail "qbench quantize $T/dupnames.onnx --plan $T/dup-saved.ini: not both fc layers int4"

# ---- 2. mutations ----
# cut FILE K OUT: the first K bytes; flip FILE OFFSET OUT: one byte replaced by 0xff or 0x00
cut() { head -c "$2" "$1" >"$3"; }
flip() {
    cp "$1" "$3"
    printf "$([ $(( $2 % 2 )) -eq 0 ] && echo '\377' || echo '\000')" | dd of="$3" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
# mutate NAME FILE OUT FRAGMENT VERB-ARGS...: each mutation of FILE is written to OUT, which ARGS read;
# an exit 2 must name FRAGMENT (the file, or the data directory holding it). MUT_N: mutations (default
# N); MUT_FROM: bytes before it are kept (cuts are longer, flips after it); MUT_CLEAN: a path removed
# before each case (an output directory)
mutate() {
    name=$1 file=$2 out=$3 frag=$4; shift 4
    size=$(wc -c <"$file")
    n=${MUT_N:-$N} from=${MUT_FROM:-0}
    span=$((size - from))
    i=0
    while [ $i -lt "$n" ]; do
        if [ $((i % 2)) -eq 0 ]; then
            k=$(( from + (span * (i / 2 + 1)) / (n / 2 + 1) )); cut "$file" "$k" "$out"
        else
            k=$(( from + (span * i * 7919 / n) % span )); flip "$file" "$k" "$out"
        fi
        [ -z "${MUT_CLEAN:-}" ] || rm -rf "$MUT_CLEAN"
        check any "$frag" "$@"
        i=$((i + 1))
    done
    cp "$file" "$out"
    echo "bad_inputs: $name: $n mutations of $(basename "$file") ($size bytes)"
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
# half as many for each of these
H=$((N / 2))
for k in npy raw wav png jpg; do
    mkdir -p "$T/m-$k"
    cp "$T/data-$k/"* "$T/m-$k/"
    f=$(ls "$T/data-$k" | head -1)
    MUT_N=$H mutate "data-$k" "$T/data-$k/$f" "$T/m-$k/$f" "m-$k" eval "$T/mlp.onnx" --data "$T/m-$k" --limit 2
done
MUT_N=$H mutate plan "$T/plan.ini" "$T/m-plan.ini" m-plan.ini eval "$T/mlp.onnx" -d synthetic --limit 8 --calib 8 \
    --plan "$T/m-plan.ini"
ENVS="QB_MODEL_CACHE=$T/cache"
# the ranges file's body (a changed recipe line would fine-tune again: seconds per case)
R=$(ls "$T"/cache/qat/*.ranges 2>/dev/null | head -1)
if [ -n "$R" ]; then
    cp "$R" "$T/ranges.orig"
    MUT_N=$H MUT_FROM=$(head -1 "$R" | wc -c) mutate qat-ranges "$T/ranges.orig" "$R" .ranges \
        eval "$T/mlp.onnx" -d synthetic --limit 8 --calib 8 --method qat -p int8-channel
fi
K=$(ls "$T"/cache/quantized/*.key 2>/dev/null | head -1)
if [ -n "$K" ]; then
    cp "$K" "$T/key.orig"
    cp "${K%.key}" "$T/qmodel.orig"
    MUT_N=$H MUT_CLEAN="$T/qs-m" mutate cache-key "$T/key.orig" "$K" "$(basename "$K")" sweep "$T/q.ini" -q -o "$T/qs-m"
    cp "$T/key.orig" "$K"
    MUT_N=$H MUT_CLEAN="$T/qs-m" mutate cache-model "$T/qmodel.orig" "${K%.key}" "$(basename "${K%.key}")" \
        sweep "$T/q.ini" -q -o "$T/qs-m"
fi
ENVS=""

# ---- 3. I/O faults: EINTR and short writes (an LD_PRELOAD shim that make test builds beside qbench) ----
# the sweep must retry and continue: the same rows as without faults, a file table reads, nothing left to resume
SHIM=$(dirname "$QB")/tests/eintr.so
if [ -f "$SHIM" ]; then
    runs=$((runs + 1))
    err=$(QB_EINTR_LOG="$T/eintr.log" LD_PRELOAD="$SHIM" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        "$QB" sweep "$T/k.ini" -q -o "$T/eintr" 2>&1 >/dev/null)
    got=$?
    faults=$(awk '{ n += $1 + $2 } END { print n + 0 }' "$T/eintr.log" 2>/dev/null)
    rows=$(wc -l <"$T/eintr/results.csv" 2>/dev/null || echo 0)
    if [ "$got" -ne 0 ] || [ "${faults:-0}" -eq 0 ] || [ "$rows" -ne "$(wc -l <"$T/results.csv")" ] ||
        ! "$QB" table "$T/eintr/results.csv" >/dev/null 2>&1 ||
        ! "$QB" sweep "$T/k.ini" -q -o "$T/eintr" --resume >/dev/null 2>&1 ||
        [ "$(wc -l <"$T/eintr/results.csv")" -ne "$rows" ]; then
        declare_fail "LD_PRELOAD=$SHIM qbench sweep $T/k.ini -o DIR: exit $got, $faults faults injected, $rows lines" \
            "(want exit 0, faults, $(wc -l <"$T/results.csv") lines, nothing to resume): $err"
    fi
else
    echo "bad_inputs: no $SHIM (make test builds it): the EINTR case is skipped"
fi
echo "bad_inputs: $runs cases ($table_runs from cases.tsv, $((runs - table_runs)) generated), $fails failed"
[ "$fails" -eq 0 ]
