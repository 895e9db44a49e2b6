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
expect 0 "depthwise kernels, checked" -- dwconv -p all -i all -s 9x7x33 --stride 2 -r 2 --check --csv
expect 2 "dwconv bad stride" -- dwconv -p fp32 -i scalar -s 8x8x8 --stride 0
expect 2 "dwconv bad shape" -- dwconv -p fp32 -i scalar -s 8x8
expect 2 "dwconv precision without kernels" -- dwconv -p int4 -i scalar -s 8x8x8
expect 2 "dwconv takes no group" -- dwconv -p fp32 -i scalar -s 8x8x8 -g 32
# the options of a kernel check's repro line (tests/test_kernels.c checks the line itself)
expect 0 "gemm repro options" -- gemm -p int8-channel -i all -s 7x17x33 --out-i32 --lda-extra 5 --ldc-extra 3 --relu --fill extreme --seed 77 --check -r 2
expect 0 "dwconv repro options" -- dwconv -p all -i all -s 9x8x17 -k 5x3 --stride 2x1 --dilation 1x2 --pad 2,0,1,3 --relu --fill extreme --seed 1234 --check -r 2
expect 0 "dwconv 5x5 same padding" -- dwconv -p all -i all -s 12x10x24 -k 5x5 --stride 2 -r 2 --check
expect 2 "dwconv window larger than the image" -- dwconv -p fp32 -i scalar -s 4x4x8 -k 7x7 --pad 0
expect 2 "dwconv bad window" -- dwconv -p fp32 -i scalar -s 8x8x8 -k 3y3
expect 2 "dwconv bad dilation" -- dwconv -p fp32 -i scalar -s 8x8x8 --dilation 0
expect 2 "dwconv pad with junk" -- dwconv -p fp32 -i scalar -s 8x8x8 --pad 1x
expect 2 "dwconv three pads" -- dwconv -p fp32 -i scalar -s 8x8x8 --pad 1,1,1
expect 2 "bad seed" -- gemm -p fp32 -i scalar -s 8x8x8 --seed -3
expect 2 "bad fill" -- gemm -p fp32 -i scalar -s 8x8x8 --fill wild
expect 2 "dwconv has no lda" -- dwconv -p fp32 -i scalar -s 8x8x8 --lda-extra 3
expect 2 "dwconv bad pad" -- dwconv -p fp32 -i scalar -s 8x8x8 --pad 1,2

# ---- models: qbench inspect / run on good and bad ONNX files ----
# Small models are written here from protobuf text with protoc-c (the
# build already needs it); nothing binary is committed.
expect_msg() { # expect_msg CODE PATTERN DESCRIPTION -- ARGS...: also grep stderr
    want=$1; pat=$2; what=$3; shift 4
    runs=$((runs + 1))
    err=$("$QB" "$@" 2>&1 >/dev/null)
    got=$?
    if [ "$got" -ne "$want" ] || ! printf '%s' "$err" | grep -q -- "$pat"; then
        echo "FAIL: $what: qbench $*: exit $got (want $want), stderr should match '$pat'"
        echo "      stderr: $err"
        fails=$((fails + 1))
    fi
}
T=$(mktemp -d)
trap 'umount "$T/small" 2>/dev/null; rm -rf "$T"' EXIT
PROTO=/usr/include/onnx/onnx.proto
mk() { # mk NAME: protobuf text on stdin -> $T/NAME.onnx
    protoc-c --encode=onnx.ModelProto --proto_path="$(dirname $PROTO)" "$(basename $PROTO)" >"$T/$1.onnx"
}
IN4='input { name: "x" type { tensor_type { elem_type: 1 shape { dim { dim_value: 1 } dim { dim_value: 1 } dim { dim_value: 4 } dim { dim_value: 4 } } } } }'
OUT='output { name: "y" type { tensor_type { elem_type: 1 } } }'
W9='float_data: 1 float_data: 1 float_data: 1 float_data: 1 float_data: 1 float_data: 1 float_data: 1 float_data: 1 float_data: 1'
model() { # model OPSET NODES INITIALIZERS INPUTS
    printf 'ir_version: 7\nopset_import { domain: "" version: %s }\ngraph { name: "g"\n%s\n%s\n%s\n%s\n}\n' "$1" "$2" "$3" "$4" "$OUT"
}
CONV='node { input: "x" input: "w" output: "y" name: "conv1" op_type: "Conv" }'
if command -v protoc-c >/dev/null && [ -f $PROTO ]; then
    model 13 "$CONV" "initializer { name: \"w\" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 $W9 }" "$IN4" | mk good
    model 13 "$CONV" 'initializer { name: "w" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 float_data: 1 }' "$IN4" | mk short
    model 13 "$CONV" "initializer { name: \"w\" dims: 1 dims: 1 dims: -3 dims: 3 data_type: 1 $W9 }" "$IN4" | mk negdim
    model 13 "$CONV" 'initializer { name: "w" dims: 100000 dims: 100000 dims: 100000 dims: 3 data_type: 1 }' "$IN4" | mk overflow
    model 13 "$CONV" "initializer { name: \"w\" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 float_data: nan $W9 }" "$IN4" | mk short2
    model 13 "$CONV" 'initializer { name: "w" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 float_data: nan float_data: 1 float_data: 1 float_data: 1 float_data: inf float_data: 1 float_data: 1 float_data: 1 float_data: 1 }' "$IN4" | mk nan
    model 13 "$CONV" 'initializer { name: "w" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 data_location: EXTERNAL external_data { key: "location" value: "w.bin" } }' "$IN4" | mk external
    model 13 'node { input: "x" input: "w" output: "z" name: "odd" op_type: "FrobConv" } node { input: "z" output: "y" name: "odd2" op_type: "Zap" }' "initializer { name: \"w\" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 $W9 }" "$IN4" | mk unsupported
    model 13 'node { input: "x" input: "nope" output: "y" name: "conv1" op_type: "Conv" }' "" "$IN4" | mk missing
    model 13 'node { input: "x" input: "b" output: "a" name: "add1" op_type: "Add" } node { input: "a" output: "b" name: "relu1" op_type: "Relu" } node { input: "b" output: "y" name: "relu2" op_type: "Relu" }' "" "$IN4" | mk cycle
    model 13 "$CONV" "initializer { name: \"w\" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 $W9 }" \
        'input { name: "x" type { tensor_type { elem_type: 1 shape { dim { dim_param: "N" } dim { dim_value: 1 } dim { dim_param: "H" } dim { dim_value: 4 } } } } }' | mk symbolic
    model 13 "$CONV" "initializer { name: \"w\" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 $W9 }" \
        'input { name: "x" type { tensor_type { elem_type: 1 shape { dim { dim_param: "N" } dim { dim_value: 1 } dim { dim_value: 4 } dim { dim_value: 4 } } } } }' | mk batch
    model 13 "$CONV" "initializer { name: \"w\" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 $W9 }" \
        'input { name: "x" type { tensor_type { elem_type: 1 shape { dim { dim_value: 1 } dim { dim_value: 0 } dim { dim_value: 4 } dim { dim_value: 4 } } } } }' | mk zerodim
    model 21 "$CONV" "initializer { name: \"w\" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 $W9 }" "$IN4" | mk opset21
    model 13 "$CONV" 'initializer { name: "w" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 float_data: 1e30 float_data: 1 float_data: 1 float_data: 1 float_data: -70000 float_data: 1 float_data: 1 float_data: 1 float_data: 1 }' "$IN4" | mk huge
    model 13 "node { output: \"w\" name: \"wconst\" op_type: \"Constant\" attribute { name: \"value\" type: TENSOR t { dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 $W9 } } } $CONV" "" "$IN4" | mk constw
    head -c 60 "$T/good.onnx" >"$T/truncated.onnx"
    printf 'this is a text file, not a model\n' >"$T/text.onnx"
    : >"$T/empty.onnx"
    head -c 64 /dev/zero >"$T/x.raw"
    head -c 60 /dev/zero >"$T/short.raw"
    head -c 128 /dev/zero >"$T/x2.raw"

    # a Conv inside an If of constant condition (prepare splices the branch in: calibrated, quantized, written
    # without the If) and a Conv before an If on a run-time condition (written with both branches)
    IFC='node { input: "ct" output: "y" name: "if1" op_type: "If" attribute { name: "then_branch" type: GRAPH g { name: "t" node { input: "x" input: "w" output: "c" name: "conv_in_if" op_type: "Conv" } node { input: "c" output: "r" name: "relu_in_if" op_type: "Relu" } output { name: "r" } } } attribute { name: "else_branch" type: GRAPH g { name: "e" node { input: "x" output: "z" name: "id" op_type: "Identity" } output { name: "z" } } } }'
    model 13 "$IFC" "initializer { name: \"w\" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 $W9 } initializer { name: \"ct\" data_type: 9 int32_data: 1 }" "$IN4" | mk ifconv
    IFR='node { input: "x" input: "w" output: "c" name: "conv1" op_type: "Conv" } node { input: "c" output: "m" name: "max" op_type: "ReduceMax" attribute { name: "keepdims" type: INT i: 0 } } node { input: "m" input: "zero" output: "cond" name: "gt" op_type: "Greater" } node { input: "cond" output: "y" name: "if2" op_type: "If" attribute { name: "then_branch" type: GRAPH g { name: "t" node { input: "c" output: "r" name: "relu" op_type: "Relu" } output { name: "r" } } } attribute { name: "else_branch" type: GRAPH g { name: "e" node { input: "c" output: "z" name: "neg" op_type: "Neg" } output { name: "z" } } } }'
    model 13 "$IFR" "initializer { name: \"w\" dims: 1 dims: 1 dims: 3 dims: 3 data_type: 1 $W9 } initializer { name: \"zero\" data_type: 1 float_data: 0 }" "$IN4" | mk ifrun
    expect 0 "quantize a Conv inside an If of constant condition" -- quantize "$T/ifconv.onnx" -p int8-channel -d none --calib 4 -o "$T/q_ifconv.onnx"
    "$QB" inspect "$T/q_ifconv.onnx" | grep -q "conv_in_if .*Conv .*int8" || { echo "FAIL: the Conv inside the If was not quantized"; fails=$((fails + 1)); }
    "$QB" inspect "$T/q_ifconv.onnx" | grep -q " If " && { echo "FAIL: the constant If was written"; fails=$((fails + 1)); }
    expect 0 "quantize a model with an If on a run-time condition" -- quantize "$T/ifrun.onnx" -p int8-channel -d none --calib 4 -o "$T/q_ifrun.onnx"
    "$QB" inspect "$T/q_ifrun.onnx" | grep -q "if2 .*If" || { echo "FAIL: the run-time If was not written"; fails=$((fails + 1)); }
    expect 0 "run the QDQ file holding an If" -- run "$T/q_ifrun.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4 -o "$T/oifr"
    expect 0 "inspect a model" -- inspect "$T/good.onnx"
    expect 0 "inspect a dynamic batch" -- inspect "$T/batch.onnx"
    expect 0 "inspect with --shape" -- inspect "$T/batch.onnx" --shape 2x1x4x4
    expect 0 "run with batch 2 on a dynamic batch" -- run "$T/batch.onnx" --input-raw "$T/x2.raw" --shape 2x1x4x4 -o "$T/outb"
    expect_msg 2 "expects 1x1x4x4" "batch 2 on a fixed batch" -- run "$T/good.onnx" --input-raw "$T/x2.raw" --shape 2x1x4x4 -o "$T/outb"
    expect 0 "run on raw input" -- run "$T/good.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4 -o "$T/out"
    [ -s "$T/out/output_0.pb" ] || { echo "FAIL: run wrote no output_0.pb"; fails=$((fails + 1)); }
    expect 0 "run on its own output format" -- run "$T/good.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4 -o "$T/out" -i scalar --profile
    QB_PROFILE_CLOCK=monotonic "$QB" run "$T/good.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4 -o "$T/out" --profile 2>&1 |
        grep -q "^profile (.*, monotonic clock)" || { echo "FAIL: QB_PROFILE_CLOCK=monotonic is not the profile's clock"; fails=$((fails + 1)); }
    expect_msg 0 "warning.*'w'.*NaN" "NaN weights load with a warning" -- inspect "$T/nan.onnx"
    expect_msg 2 "short.onnx.*'w'.*needs" "data shorter than the shape" -- inspect "$T/short.onnx"
    expect_msg 2 "short2.onnx.*'w'" "data longer than the shape" -- inspect "$T/short2.onnx"
    expect_msg 2 "negdim.onnx.*'w'.*-3" "negative dimension" -- inspect "$T/negdim.onnx"
    expect_msg 2 "overflow.onnx.*'w'.*overflow" "dimensions overflow" -- inspect "$T/overflow.onnx"
    expect_msg 2 "zerodim.onnx.*'x'" "zero dimension" -- inspect "$T/zerodim.onnx"
    expect_msg 2 "external" "external data refused" -- inspect "$T/external.onnx"
    expect_msg 2 "2 operators are not supported: FrobConv (1 node: odd); Zap (1 node: odd2); supported: .*Conv" "every unsupported op with its nodes, and the list" -- inspect "$T/unsupported.onnx"
    expect 0 "weights in a Constant node load" -- inspect "$T/constw.onnx"
    "$QB" inspect "$T/constw.onnx" 2>/dev/null | grep -q "total: 1 layers.* 9 parameters" || {
        echo "FAIL: inspect does not count the 9 weights of a Constant node as parameters"; fails=$((fails + 1)); }
    expect_msg 2 "conv1.*'nope'" "missing input" -- inspect "$T/missing.onnx"
    expect_msg 2 "cycle" "cycle" -- run "$T/cycle.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4 -o "$T/out"
    expect_msg 2 "'x'.*--shape" "symbolic non-batch dim asks for --shape" -- inspect "$T/symbolic.onnx"
    expect_msg 2 "opset 21" "opset out of range" -- inspect "$T/opset21.onnx"
    expect_msg 2 "truncated.onnx" "truncated model" -- inspect "$T/truncated.onnx"
    expect_msg 2 "text.onnx" "wrong file type" -- inspect "$T/text.onnx"
    expect_msg 2 "empty.onnx" "empty file" -- inspect "$T/empty.onnx"
    expect_msg 2 "cannot" "a directory as model" -- inspect "$T"
    expect_msg 2 "cannot open" "missing model" -- inspect "$T/nothere.onnx"
    expect_msg 2 "short.raw" "raw input too short" -- run "$T/good.onnx" --input-raw "$T/short.raw" --shape 1x1x4x4 -o "$T/out"
    expect_msg 2 "1x1x4x5" "input of the wrong shape" -- run "$T/good.onnx" --input-raw "$T/x.raw" --shape 1x1x4x5 -o "$T/out" 2>/dev/null
    expect 2 "bad --shape" -- run "$T/good.onnx" --input-raw "$T/x.raw" --shape 1x-1x4 -o "$T/out"
    expect 2 "--input-raw without --shape" -- run "$T/good.onnx" --input-raw "$T/x.raw" -o "$T/out"
    expect_msg 2 "TensorProto" "model given as input tensor" -- run "$T/good.onnx" --input "$T/good.onnx" -o "$T/out"
    expect 2 "no inputs" -- run "$T/good.onnx" -o "$T/out"
    expect 2 "no -o" -- run "$T/good.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4
    expect 0 "run quantized (seeded calibration inputs)" -- run "$T/good.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4 -o "$T/out" -p int8-tensor
    expect_msg 0 "weights 'w': 2 of 9 values beyond the fp16 range" "fp16: overflowing weights named and counted" -- \
        run "$T/huge.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4 -o "$T/out" -p fp16
    expect_msg 2 "ptq-best" "run: bad method" -- run "$T/good.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4 -o "$T/out" -p int8-tensor --method ptq-best
    expect 2 "unknown isa" -- run "$T/good.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4 -o "$T/out" -i sse9
    expect 2 "inspect without a model" -- inspect
    if ! "$QB" kernels --csv | grep -q '^fp32,neon,.*,yes,'; then
        expect_msg 2 "neon" "run -i with an ISA this CPU lacks" -- run "$T/good.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4 -o "$T/out" -i neon
    fi
else
    echo "cli: protoc-c or $PROTO missing: model cases skipped"
fi
D=/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding
if [ -d $D ]; then
    expect 0 "run a Debian test model" -- run $D/model.onnx --input $D/test_data_set_0/input_0.pb --input $D/test_data_set_0/input_1.pb -o "$T/out2"
    head -c 100 $D/model.onnx >"$T/cut.onnx"
    expect_msg 2 "cut.onnx" "truncated Debian model" -- inspect "$T/cut.onnx"
    head -c 20 $D/test_data_set_0/input_0.pb >"$T/cut.pb"
    expect_msg 2 "cut.pb" "truncated input tensor" -- run $D/model.onnx --input "$T/cut.pb" --input $D/test_data_set_0/input_1.pb -o "$T/out2"
fi

# ---- datasets, qbench train / eval ----
# Small IDX sets are written here with printf (and gzip); nothing binary
# is committed.
byte() { printf "\\$(printf '%03o' "$1")"; }
be32() { byte 0; byte 0; byte $(($1 >> 8)); byte $(($1 & 255)); }
idx_images() { # idx_images N ROWS COLS: IDX image file on stdout, pixels '0'
    byte 0; byte 0; byte 8; byte 3; be32 "$1"; be32 "$2"; be32 "$3"
    head -c $(($1 * $2 * $3)) /dev/zero | tr '\0' '0'
}
idx_labels() { # idx_labels N: IDX label file, labels 0 1 0 1 ...
    byte 0; byte 0; byte 8; byte 1; be32 "$1"
    i=0; while [ $i -lt "$1" ]; do byte $((i % 2)); i=$((i + 1)); done
}
mkdir -p "$T/small" "$T/empty" "$T/magic" "$T/trunc" "$T/count" "$T/corrupt"
idx_images 4 3 4 >"$T/small/train-images-idx3-ubyte"
idx_labels 4 | gzip >"$T/small/train-labels-idx1-ubyte.gz"
idx_images 2 3 4 | gzip >"$T/small/t10k-images-idx3-ubyte.gz"
idx_labels 2 >"$T/small/t10k-labels-idx1-ubyte"
idx_labels 4 >"$T/magic/train-images-idx3-ubyte"
idx_labels 4 >"$T/magic/train-labels-idx1-ubyte"
idx_images 4 3 4 | head -c 30 | gzip >"$T/trunc/train-images-idx3-ubyte.gz"
idx_labels 4 >"$T/trunc/train-labels-idx1-ubyte"
idx_images 4 3 4 >"$T/count/train-images-idx3-ubyte"
idx_labels 3 >"$T/count/train-labels-idx1-ubyte"
idx_images 4 3 4 | gzip | head -c 20 >"$T/corrupt/train-images-idx3-ubyte.gz"
idx_labels 4 >"$T/corrupt/train-labels-idx1-ubyte"
expect_msg 2 "no-such-dir" "train: missing data directory" -- train -m mlp -d mine --data-dir "$T/no-such-dir" -o "$T/m.onnx"
expect_msg 2 "train-images-idx3-ubyte" "train: directory without IDX files" -- train -m mlp -d mine --data-dir "$T/empty" -o "$T/m.onnx"
expect_msg 2 "wrong magic" "train: label file as images" -- train -m mlp -d mine --data-dir "$T/magic" -o "$T/m.onnx"
expect_msg 2 "truncated" "train: truncated gzip IDX" -- train -m mlp -d mine --data-dir "$T/trunc" -o "$T/m.onnx"
expect_msg 2 "corrupt/train-images" "train: cut gzip stream" -- train -m mlp -d mine --data-dir "$T/corrupt" -o "$T/m.onnx"
expect_msg 2 "3 labels, but" "train: label count not matching images" -- train -m mlp -d mine --data-dir "$T/count" -o "$T/m.onnx"
expect_msg 2 "unknown model" "train: unknown model" -- train -m resnet -d synthetic -o "$T/m.onnx"
expect_msg 2 "unknown dataset" "train: unknown dataset" -- train -m mlp -d imagenet -o "$T/m.onnx"
expect 2 "train: missing -m" -- train -d synthetic -o "$T/m.onnx"
expect 2 "train: bad optimizer" -- train -m mlp -d synthetic --opt rmsprop -o "$T/m.onnx"
# the model cache (train without -o): trains once, prints the path, then reuses it
export QB_MODEL_CACHE="$T/cache"
expect 0 "train into the model cache" -- train -m mlp -d synthetic -e 1 --limit 300 --val 100
c1=$("$QB" train -m mlp -d synthetic -e 1 --limit 300 --val 100 2>"$T/cache.err")
grep -q "cached $c1" "$T/cache.err" && [ -f "$c1" ] && case "$c1" in "$T/cache/mlp-synthetic-"*.onnx) true ;; *) false ;; esac || {
    echo "FAIL: train: cache not reused ($c1)"; fails=$((fails + 1)); }
c2=$("$QB" train -m mlp -d synthetic -e 2 --limit 300 --val 100 2>/dev/null)
[ -f "$c2" ] && [ "$c1" != "$c2" ] || { echo "FAIL: train: another recipe, same cache file"; fails=$((fails + 1)); }
expect 0 "eval a cached model" -- eval "$c1" -d synthetic
export QB_MODEL_CACHE="/proc/qb-no-cache"
expect_msg 2 "qb-no-cache" "train: cache directory not creatable" -- train -m mlp -d synthetic -e 1 --limit 300
unset QB_MODEL_CACHE
expect 2 "train: bad epochs" -- train -m mlp -d synthetic -e 0 -o "$T/m.onnx"
expect 0 "train mlp on a tiny IDX set" -- train -m mlp -d small --data-dir "$T/small" -e 1 --val 1 -o "$T/small.onnx"
expect 0 "eval on its test part" -- eval "$T/small.onnx" -d small --data-dir "$T/small"
expect 0 "train cnn on synthetic data" -- train -m cnn -d synthetic -e 1 --limit 200 --val 100 -o "$T/syn.onnx"
expect 0 "inspect the trained model" -- inspect "$T/syn.onnx"
expect 0 "eval it, csv" -- eval "$T/syn.onnx" -d synthetic --csv
"$QB" eval "$T/syn.onnx" -d synthetic --csv | sed -n 2p | grep -q ',synthetic,fp32,none,.*,ok,.*,1000,' || {
    echo "FAIL: eval --csv row"; fails=$((fails + 1)); }
expect_msg 2 "does not take" "eval: images of another shape" -- eval "$T/syn.onnx" -d small --data-dir "$T/small"
expect_msg 2 "nope.onnx" "eval: missing model" -- eval "$T/nope.onnx" -d synthetic
# quantized evaluation (issue 5): every precision and calibrator runs; bad values are refused
for p in fp16 int8-tensor int8-channel int4 binary; do
    expect 0 "eval -p $p" -- eval "$T/syn.onnx" -d synthetic -p "$p" --limit 200 --calib 64
done
for m in ptq-minmax ptq-percentile ptq-mse ptq-kl; do
    expect 0 "eval --method $m" -- eval "$T/syn.onnx" -d synthetic -p int8-channel --method "$m" --limit 200 --calib 64
done
"$QB" eval "$T/syn.onnx" -d synthetic -p int8-channel --method ptq-kl --limit 200 --calib 64 --csv | sed -n 2p |
    grep -Eq ',synthetic,int8-channel,ptq-kl,[a-z0-9]+,1,100,ok,.*,200,[0-9.]+,[0-9.]+,-?[0-9.]+,[0-9.]+,[0-9.]+,' || {
    echo "FAIL: eval -p int8-channel --csv row"; fails=$((fails + 1)); }
"$QB" eval "$T/syn.onnx" -d synthetic -p int8-channel --limit 200 --calib 64 --per-layer | grep -q "propagated dB" || {
    echo "FAIL: eval --per-layer table"; fails=$((fails + 1)); }
"$QB" eval "$T/syn.onnx" -d synthetic -p mixed --limit 200 --calib 64 --val 200 | grep -q "mixed plan (budget 1.00 pt" || {
    echo "FAIL: eval -p mixed plan"; fails=$((fails + 1)); }
expect 0 "eval seeded inputs without labels" -- eval "$T/syn.onnx" -d none -p int8-channel --limit 50 --calib 32
# --versus: a second method on the same samples, A minus B with paired intervals; the differences agree
# with the two runs' own figures (SQNR and top-1 as each block prints them), the interval holds the point
"$QB" eval "$T/syn.onnx" -d synthetic -p int8-channel --method ptq-kl --versus ptq-minmax --limit 200 --calib 64 \
    >"$T/versus.txt" 2>/dev/null
/usr/bin/python3 -c 'import re, sys
t = open(sys.argv[1]).read()
sq = [float(x) for x in re.findall(r", SQNR (-?[0-9.]+) dB \[", t)]
top = [float(x) for x in re.findall(r"top-1 ([0-9.]+)% \[", t)]
m = re.search(r"ptq-kl minus ptq-minmax on the same 200 samples.*\n  SQNR ([-+0-9.]+) dB \[([-+0-9.]+), ([-+0-9.]+)\]"
              r".*\n  top-1 ([-+0-9.]+) pt \[([-+0-9.]+), ([-+0-9.]+)\]; right only with ptq-kl ([0-9]+), only with "
              r"ptq-minmax ([0-9]+): McNemar two-sided p ([0-9.e-]+)", t)
v = [float(x) for x in m.groups()] if m else []
ok = m and len(sq) == 2 and len(top) == 2 and abs(v[0] - (sq[0] - sq[1])) <= 0.011 and v[1] <= v[0] <= v[2]
ok = ok and abs(v[3] - (top[0] - top[1])) <= 0.011 and v[4] <= v[3] <= v[5] and 0 <= v[8] <= 1
ok = ok and abs((v[6] - v[7]) / 2 - v[3]) <= 1e-9  # 200 samples: one sample is 0.5 pt
sys.exit(not ok)' "$T/versus.txt" || { echo "FAIL: eval --versus: the paired block disagrees with the two runs"; cat "$T/versus.txt"; fails=$((fails + 1)); }
[ "$("$QB" eval "$T/syn.onnx" -d synthetic -p int8-channel --method ptq-kl --versus ptq-mse --limit 50 --calib 32 \
    --csv 2>/dev/null | cut -d, -f12 | tr '\n' ' ')" = "method ptq-kl ptq-mse " ] || {
    echo "FAIL: eval --versus --csv: want the header and a row per method"; fails=$((fails + 1)); }
expect_msg 2 "the same method" "eval --versus: the same method" -- eval "$T/syn.onnx" -d synthetic -p int8-channel --method ptq-kl --versus ptq-kl
expect_msg 2 "takes no method" "eval --versus: a float precision" -- eval "$T/syn.onnx" -d synthetic -p fp16 --versus ptq-kl
expect_msg 2 "without it" "eval --versus with --per-layer" -- eval "$T/syn.onnx" -d synthetic -p int8-channel --versus ptq-kl --per-layer
expect_msg 2 "unknown method\\|ptq-best" "eval --versus: unknown method" -- eval "$T/syn.onnx" -d synthetic -p int8-channel --versus ptq-best
# QB_CALIB_MINMAX (one-tensor ablation): the named tensor gets its min/max range instead of the method's
trace_l0() { # trace_l0 FILE: "NAME MAX HI" of layer 0's output in a QB_CALIB_TRACE log
    sed -n "s/^qbench: calib-trace: layer 0 out '\([^']*\)' min [^ ]* max \([^ ]*\) range \[[^,]*, \([^]]*\)\].*/\1 \2 \3/p" "$1" |
        head -n 1
}
QB_CALIB_TRACE=1 "$QB" eval "$T/syn.onnx" -d synthetic -p int8-channel --method ptq-percentile --limit 50 --calib 64 \
    >/dev/null 2>"$T/trace0.err"
read -r abl_name abl_max abl_hi <<EOT
$(trace_l0 "$T/trace0.err")
EOT
QB_CALIB_TRACE=1 QB_CALIB_MINMAX="$abl_name" "$QB" eval "$T/syn.onnx" -d synthetic -p int8-channel \
    --method ptq-percentile --limit 50 --calib 64 >/dev/null 2>"$T/trace1.err"
read -r abl_name1 abl_max1 abl_hi1 <<EOT
$(trace_l0 "$T/trace1.err")
EOT
[ -n "$abl_hi" ] && [ "$abl_hi" != "$abl_max" ] && [ "$abl_name1" = "$abl_name" ] && [ "$abl_hi1" = "$abl_max1" ] || {
    echo "FAIL: QB_CALIB_MINMAX: layer 0 output (name max hi): percentile '$abl_name $abl_max $abl_hi'," \
        "ablated '$abl_name1 $abl_max1 $abl_hi1'"
    fails=$((fails + 1))
}
expect_msg 2 "ptq-best" "eval: unknown method" -- eval "$T/syn.onnx" -d synthetic -p int8-channel --method ptq-best
expect_msg 2 "takes method none" "eval: fp16 with a calibrator" -- eval "$T/syn.onnx" -d synthetic -p fp16 --method ptq-kl
expect_msg 2 "int7" "eval: unknown precision" -- eval "$T/syn.onnx" -d synthetic -p int7
expect_msg 2 "bad value" "eval: bad percentile" -- eval "$T/syn.onnx" -d synthetic -p int8-channel --percentile 101
expect_msg 2 "bad --group" "eval: bad int4 group" -- eval "$T/syn.onnx" -d synthetic -p int4 --group 48
expect 2 "eval: no model" -- eval -d synthetic

# ---- qbench quantize (qdq): export of quantized models ----
expect_msg 2 "unknown precision 'int7'" "quantize: bad precision" -- quantize "$T/syn.onnx" -p int7 -d synthetic -o "$T/q.onnx"
expect_msg 2 "bad precision 'fp32'" "quantize: fp32 is not quantized" -- quantize "$T/syn.onnx" -p fp32 -d synthetic -o "$T/q.onnx"
expect_msg 2 "unknown method 'ptq-best'" "quantize: bad method" -- quantize "$T/syn.onnx" -p int8-channel --method ptq-best -d synthetic -o "$T/q.onnx"
expect_msg 2 "nope.onnx" "quantize: missing model" -- quantize "$T/nope.onnx" -p int8-channel -d synthetic -o "$T/q.onnx"
printf 'not a model' >"$T/notonnx.onnx"
expect_msg 2 "not an ONNX model" "quantize: a model that is not ONNX" -- quantize "$T/notonnx.onnx" -p int8-channel -d synthetic -o "$T/q.onnx"
expect_msg 2 "missing -o" "quantize: no output" -- quantize "$T/syn.onnx" -p int8-channel -d synthetic
expect_msg 2 "takes method none" "quantize: fp16 with a calibrator" -- quantize "$T/syn.onnx" -p fp16 --method ptq-minmax -d synthetic -o "$T/q.onnx"
expect_msg 2 "cannot write" "quantize: unwritable output" -- quantize "$T/syn.onnx" -p int8-channel -d synthetic --calib 16 -o /proc/qb-none/q.onnx
expect 0 "quantize int8-channel" -- quantize "$T/syn.onnx" -p int8-channel -d synthetic --calib 32 -o "$T/q8.onnx"
expect 0 "inspect the QDQ model" -- inspect "$T/q8.onnx"
"$QB" inspect "$T/q8.onnx" | grep -q "^precision: int8-channel (4 of 4 layers)" || {
    echo "FAIL: inspect does not label the QDQ model int8-channel"; fails=$((fails + 1)); }
"$QB" inspect "$T/q8.onnx" | grep -Eq "^total: .* [1-9][0-9]* parameters" || {
    echo "FAIL: inspect counts no parameters in the QDQ model"; fails=$((fails + 1)); }
"$QB" eval "$T/q8.onnx" -d synthetic --limit 20 | grep -q "as stored: int8-channel (4 of 4 layers)" || {
    echo "FAIL: eval does not label the QDQ model"; fails=$((fails + 1)); }
expect 0 "eval the QDQ model" -- eval "$T/q8.onnx" -d synthetic --limit 200
# eval --csv of a file quantized already: its row says what the file holds, not fp32
csvcol() { # csvcol FILE NAME: column NAME of the first data row
    awk -F, -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) c = i } NR == 2 { print $c }' "$1"; }
"$QB" eval "$T/q8.onnx" -d synthetic --limit 20 --csv >"$T/q8.csv" 2>/dev/null
[ "$(csvcol "$T/q8.csv" precision)" = int8-channel ] && grep -q "as stored: int8-channel (4 of 4 layers)" "$T/q8.csv" || {
    echo "FAIL: eval --csv labels the QDQ model $(csvcol "$T/q8.csv" precision)"; fails=$((fails + 1)); }
expect 0 "quantize binary" -- quantize "$T/syn.onnx" -p binary -d synthetic --calib 32 -o "$T/qb.onnx"
expect 0 "inspect the binary model" -- inspect "$T/qb.onnx"

# ---- --data DIR: calibration and evaluation on a folder of the user's inputs (issue 10) ----
# raw float32 samples of the cnn's 1x1x28x28 input, constant values 0.25 .. 1.0, made here
mkdir -p "$T/dat"
mkraw() { # mkraw FILE 'BYTES': 784 copies of one float32
    printf "$2" >"$T/f1"; for k in 1 2 3 4; do cat "$T/f1" "$T/f1" >"$T/f2"; mv "$T/f2" "$T/f1"; done
    : >"$1"; k=0; while [ $k -lt 49 ]; do cat "$T/f1" >>"$1"; k=$((k + 1)); done
}
i=0
for b in '\000\000\200\076' '\000\000\000\077' '\000\000\100\077' '\000\000\200\077'; do
    mkraw "$T/dat/a$i.raw" "$b"; mkraw "$T/dat/b$i.raw" "$b"; i=$((i + 1))
done
out=$("$QB" eval "$T/syn.onnx" --data "$T/dat" -p int8-channel --calib 4 2>&1)
echo "$out" | grep -q "calibration on the first 4 (a0.raw .. a3.raw), evaluation on 4 others (b0.raw .. b3.raw): never the same" || {
    echo "FAIL: eval --data: calibration/evaluation split not stated: $out"; fails=$((fails + 1)); }
"$QB" eval "$T/syn.onnx" -d none -p int8-channel --limit 20 --calib 16 | grep -q "SYNTHETIC" || {
    echo "FAIL: eval -d none does not say the data is synthetic"; fails=$((fails + 1)); }
expect 0 "quantize on a data folder" -- quantize "$T/syn.onnx" -p int8-channel --method ptq-minmax --data "$T/dat" --calib 4 -o "$T/qd.onnx"
expect 0 "quantize on seeded inputs" -- quantize "$T/syn.onnx" -p int8-channel --method ptq-minmax -d none --calib 4 -o "$T/qn.onnx"
cmp -s "$T/qd.onnx" "$T/qn.onnx" && { echo "FAIL: quantize --data gives the model of seeded calibration"; fails=$((fails + 1)); }
expect 0 "run on the folder's first evaluation input" -- run "$T/syn.onnx" --data "$T/dat" --calib 4 -p int8-channel -o "$T/rd"
expect_msg 2 "no evaluation inputs" "eval --data: --calib takes every input" -- eval "$T/syn.onnx" --data "$T/dat" -p int8-channel --calib 8
expect_msg 2 "'mean'" "eval --preprocess: bad value" -- eval "$T/syn.onnx" --data "$T/dat" --preprocess mean=x
expect_msg 2 "cannot open the data folder" "eval --data: no folder" -- eval "$T/syn.onnx" --data "$T/nodata"
expect_msg 2 "no input 'nope'" "eval --shape: unknown input" -- eval "$T/syn.onnx" --data "$T/dat" --shape nope=1x1x28x28
expect_msg 2 "bad dimension" "eval --shape: bad value" -- eval "$T/syn.onnx" --data "$T/dat" --shape 1x0x28x28
# a model of two inputs: one folder per sample holding every input (input_0.pb, input_1.pb; output_0.pb ignored)
A=/usr/share/libonnx-testdata/data/node/test_add
mkdir -p "$T/two/s0" "$T/two/s1"
cp "$A"/test_data_set_0/*.pb "$T/two/s0/"; cp "$A"/test_data_set_0/*.pb "$T/two/s1/"
out=$("$QB" eval "$A/model.onnx" --data "$T/two" 2>&1)
echo "$out" | grep -q "evaluation on 1 others (s1 .. s1)" && echo "$out" | grep -q "SQNR inf dB" || {
    echo "FAIL: eval --data on a model of two inputs: $out"; fails=$((fails + 1)); }
expect 0 "run on the folder's first evaluation sample, every input" -- run "$A/model.onnx" --data "$T/two" -o "$T/rtwo"
printf '%s\n' '[plan]' 'precision = int8-channel' 'method = ptq-minmax' >"$T/two.plan"
expect 0 "eval --plan on a model of two inputs (its layers listed with the data's inputs bound)" -- eval "$A/model.onnx" --data "$T/two" --plan "$T/two.plan"
cmp -s "$T/rtwo/output_0.pb" "$A/test_data_set_0/output_0.pb" || {
    echo "FAIL: run --data on a model of two inputs: output differs from the test's"; fails=$((fails + 1)); }
# a sweep on the folder: data = DIR calibrates on its first inputs, evaluates on the others
printf '%s\n' '[axes]' 'models = syn' 'precisions = fp32 int8-channel' 'methods = none ptq-minmax' 'isas = scalar' \
    '[measure]' 'warmup = 1' 'iterations = 3' 'min_time_ms = 0' 'retries = 0' 'counters = none' 'calib_samples = 4' \
    'eval_samples = 4' '[model syn]' "onnx = $T/syn.onnx" "data = $T/dat" >"$T/dsw.ini"
expect 0 "sweep with data = DIR" -- sweep "$T/dsw.ini" -q -o "$T/dsw"
/usr/bin/python3 -c 'import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["precision"] == "int8-channel"]
sys.exit(not (rows and rows[0]["dataset"] == sys.argv[2] and rows[0]["sqnr_db"] and "calibration" in rows[0]["note"]))' \
    "$T/dsw/results.csv" "$T/dat" || { echo "FAIL: sweep data = DIR: no int8 row on the folder with an SQNR"; fails=$((fails + 1)); }
# ... and timed in rounds: every round times the folder's inputs, as the first did (none is refused)
sed 's/^counters = none/counters = none\nrounds = 3/' "$T/dsw.ini" >"$T/dsw3.ini"
expect 0 "sweep with data = DIR in 3 rounds" -- sweep "$T/dsw3.ini" -q -o "$T/dsw3"
[ "$(grep -c 'timed in 3 rounds' "$T/dsw3/results.csv")" -eq 2 ] && ! grep -q 'other inputs' "$T/dsw3/results.csv" || {
    echo "FAIL: sweep data = DIR, rounds = 3: a later round timed other inputs than round 1"; fails=$((fails + 1)); }
sed "s#^data = .*#data = $T/nodata#" "$T/dsw.ini" >"$T/dbad.ini"
expect_msg 2 "dbad.ini:16: .model syn. data: '$T/nodata' is not a folder" "sweep --dry-run: missing data folder" -- sweep "$T/dbad.ini" --dry-run
# a plan naming a layer the model lacks: refused before any cell, naming the scenario's and the plan's FILE:LINE
printf '%s\n' '[plan]' 'precision = int8-channel' '[layers]' 'Nope_7 = fp32' >"$T/badplan.ini"
{ cat "$T/dsw.ini"; echo "plan = $T/badplan.ini"; } >"$T/dplan.ini"
expect_msg 2 "dplan.ini:14: model syn: plan: $T/badplan.ini:4: \[layers\] 'Nope_7' is not a layer" \
    "sweep --dry-run: a plan with an unknown layer" -- sweep "$T/dplan.ini" --dry-run
expect_msg 2 "badplan.ini:4" "sweep: a plan with an unknown layer, before any cell" -- sweep "$T/dplan.ini" -q -o "$T/dplan"
[ -e "$T/dplan/results.csv" ] && { echo "FAIL: sweep ran cells with a bad plan"; fails=$((fails + 1)); }
# repairs compose with a plan: a plan of every layer at int8-tensor with +cle+biascorr equals -p int8-tensor with them
printf '%s\n' '[plan]' 'precision = int8-tensor' >"$T/uniplan.ini"
a=$("$QB" eval "$T/syn.onnx" -d synthetic --limit 200 --calib 64 --method ptq-minmax+cle+biascorr --plan "$T/uniplan.ini" 2>&1 | grep "agreement with")
b=$("$QB" eval "$T/syn.onnx" -d synthetic --limit 200 --calib 64 --method ptq-minmax+cle+biascorr -p int8-tensor 2>&1 | grep "agreement with")
[ -n "$a" ] && [ "$a" = "$b" ] || { echo "FAIL: --plan with repairs differs from -p with them: '$a' vs '$b'"; fails=$((fails + 1)); }
# QAT as a priced candidate of the cost-aware search: a qat row with its training time, kept when the model is reused
q1=$(QB_MODEL_CACHE="$T/qcache" "$QB" eval "$T/syn.onnx" -d synthetic -p mixed --cost bytes --with-qat --qat-epochs 1 \
    --limit 100 --val 200 --calib 32 --pareto "$T/pq.csv" 2>&1 | grep "QAT, ")
q2=$(QB_MODEL_CACHE="$T/qcache" "$QB" eval "$T/syn.onnx" -d synthetic -p mixed --cost bytes --with-qat --qat-epochs 1 \
    --limit 100 --val 200 --calib 32 2>&1 | grep "QAT, ")
[ -n "$q1" ] && [ "$q1" = "$q2" ] && grep -q ',qat,[0-9]*\.[0-9],"' "$T/pq.csv" || {
    echo "FAIL: --with-qat: no QAT point with its training time, or not the same when reused: '$q1' / '$q2'"; fails=$((fails + 1)); }
expect_msg 2 "with-qat applies to -p mixed --cost" "--with-qat without --cost" -- eval "$T/syn.onnx" -d synthetic -p mixed --with-qat
# run --plan: the model quantized by a plan, the same outputs as the file quantize --plan writes
printf '%s\n' '[plan]' 'precision = int8-channel' 'method = ptq-minmax' '[layers]' 'Conv_0 = fp32' 'Gemm_11 = int4' >"$T/runplan.ini"
head -c 3136 /dev/urandom >"$T/x28.raw"
expect 0 "quantize --plan" -- quantize "$T/syn.onnx" -d synthetic --calib 32 --plan "$T/runplan.ini" -o "$T/rplan.onnx"
expect 0 "run the quantized file" -- run "$T/rplan.onnx" --input-raw "$T/x28.raw" --shape 1x1x28x28 -o "$T/rq"
out=$("$QB" run "$T/syn.onnx" -d synthetic --calib 32 --plan "$T/runplan.ini" --input-raw "$T/x28.raw" --shape 1x1x28x28 -o "$T/rp" 2>&1)
echo "$out" | grep -q "layers: mixed (fp32 1, int8-channel 2, int4 1 of 4 layers)" && cmp -s "$T/rp/output_0.pb" "$T/rq/output_0.pb" || {
    echo "FAIL: run --plan: not the plan's precisions or not the outputs of quantize --plan: $out"; fails=$((fails + 1)); }
expect_msg 2 "badplan.ini:4: \[layers\] 'Nope_7' is not a layer" "run --plan: unknown layer" -- run "$T/syn.onnx" --plan "$T/badplan.ini" --input-raw "$T/x28.raw" --shape 1x1x28x28 -o "$T/rp"
expect_msg 2 "missing value after --plan" "run --plan without a file" -- run "$T/syn.onnx" --input-raw "$T/x28.raw" --shape 1x1x28x28 -o "$T/rp" --plan
# shape = NAME=AxB in a scenario: a model whose input height is symbolic (made above) sweeps on a data folder
if [ -f "$T/symbolic.onnx" ]; then
    mkdir -p "$T/sdat"
    i=0
    for b in '\000\000\200\076' '\000\000\000\077' '\000\000\100\077' '\000\000\200\077' '\000\000\300\077' '\000\000\000\300'; do
        printf "$b$b$b$b" >"$T/f4"; cat "$T/f4" "$T/f4" "$T/f4" "$T/f4" >"$T/sdat/s$i.raw"; i=$((i + 1))
    done
    printf '%s\n' '[axes]' 'models = sym' 'precisions = fp32 int8-channel' 'methods = none ptq-minmax' 'isas = scalar' \
        '[measure]' 'warmup = 1' 'iterations = 3' 'min_time_ms = 0' 'retries = 0' 'counters = none' 'calib_samples = 3' \
        'eval_samples = 3' '[model sym]' "onnx = $T/symbolic.onnx" "data = $T/sdat" 'shape = x=1x1x4x4' >"$T/ssw.ini"
    expect 0 "sweep with shape = NAME=AxB" -- sweep "$T/ssw.ini" -q -o "$T/ssw"
    /usr/bin/python3 -c 'import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["status"] in ("ok", "noisy")]
sys.exit(not (len(rows) == 2 and any(r["precision"] == "int8-channel" and r["sqnr_db"] for r in rows)))' \
        "$T/ssw/results.csv" || { echo "FAIL: sweep shape =: want an fp32 and an int8 row with an SQNR"; fails=$((fails + 1)); }
    sed 's/^shape = .*/shape = x=1x1x0x4/' "$T/ssw.ini" >"$T/ssw2.ini"
    expect_msg 2 "ssw2.ini:17: .model sym. shape: --shape x=1x1x0x4: bad dimension" "sweep: bad shape =" -- sweep "$T/ssw2.ini" --dry-run
    sed 's/^shape = .*/shape = y=1x1x4x4/' "$T/ssw.ini" >"$T/ssw3.ini"
    expect_msg 2 "no input 'y'" "sweep: shape = of an input the model lacks" -- sweep "$T/ssw3.ini" --dry-run
fi
expect_msg 2 "is fixed at 28" "eval --shape: a fixed dimension" -- eval "$T/syn.onnx" --data "$T/dat" --shape 1x1x28x30
printf 'a0.raw 3\na1.raw 12\n' >"$T/dat/labels.txt"
expect_msg 2 "labels.txt: line 2: class '12'" "eval --data: unknown class" -- eval "$T/syn.onnx" --data "$T/dat"
rm "$T/dat/labels.txt"
head -c 3000 "$T/dat/a0.raw" >"$T/dat/c.raw"
rm -f "$T/qbad.onnx"
expect_msg 2 "c.raw: size: 3000 bytes" "quantize --data: a truncated raw file" -- quantize "$T/syn.onnx" -p int8-channel --data "$T/dat" -o "$T/qbad.onnx"
[ -e "$T/qbad.onnx" ] && { echo "FAIL: quantize wrote a model from a bad data folder"; fails=$((fails + 1)); }
rm "$T/dat/c.raw"

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
# the CPU pair's round trip: a figure (or why not) always; the reason on one CPU
"$QB" info | grep -Eq '^cpu pair ([0-9]+-[0-9]+ round trip: [0-9]+ ns|round trip: not measured: )' || {
    echo "FAIL: qbench info prints no cpu pair line"; fails=$((fails + 1)); }
if command -v taskset >/dev/null; then
    taskset -c "$(taskset -pc $$ | sed 's/.*: *//; s/[-,].*//')" "$QB" info |
        grep -q '^cpu pair round trip: not measured: only one CPU' || {
        echo "FAIL: qbench info on one CPU does not say why no round trip"; fails=$((fails + 1)); }
fi

# ---- sweep and merge (harness/sweep, harness/report) ----
# a sweep of kernel shapes needs no trained model: seeded data, scalar kernels
printf '%s\n' '[axes]' 'models = g dw' 'precisions = fp32 int8-channel' 'methods = none ptq-minmax' \
    'isas = scalar neon' '[measure]' 'warmup = 1' 'iterations = 3' 'min_time_ms = 0' 'counters = none' \
    '[model g]' 'gemm = 4x8x16' '[model dw]' 'dwconv = 6x6x8' >"$T/k.ini"
expect 0 "sweep: dry run" -- sweep "$T/k.ini" --dry-run
[ "$("$QB" sweep "$T/k.ini" --dry-run 2>/dev/null | wc -l)" -eq 8 ] || {
    echo "FAIL: sweep --dry-run: want 8 cells"; fails=$((fails + 1)); }
[ "$("$QB" sweep "$T/k.ini" --dry-run --only '^g/.*/scalar/' 2>/dev/null | tr '\n' ' ')" = \
    "g/fp32/none/scalar/t1/b1 g/int8-channel/ptq-minmax/scalar/t1/b1 " ] || {
    echo "FAIL: sweep --only"; fails=$((fails + 1)); }
s1=$("$QB" sweep "$T/k.ini" --dry-run --shard 1/2 2>/dev/null)
s2=$("$QB" sweep "$T/k.ini" --dry-run --shard 2/2 2>/dev/null)
[ "$(printf '%s\n%s\n' "$s1" "$s2" | sort)" = "$("$QB" sweep "$T/k.ini" --dry-run 2>/dev/null | sort)" ] || {
    echo "FAIL: sweep shards do not cover the plan"; fails=$((fails + 1)); }
expect 0 "sweep: shard 1/2" -- sweep "$T/k.ini" -q --shard 1/2 -o "$T/s1"
expect 0 "sweep: shard 2/2" -- sweep "$T/k.ini" -q --shard 2/2 -o "$T/s2"
expect 0 "sweep: --samples" -- sweep "$T/k.ini" -q --samples --only '^g/fp32/.*/scalar/' -o "$T/sm"
[ "$(head -1 "$T/sm/samples.csv")" = "run_id,cell,sample,seconds_per_call,calls_per_sample,block" ] &&
    [ "$(grep -c ',g/fp32/none/scalar/t1/b1,' "$T/sm/samples.csv")" -ge 3 ] || {
    echo "FAIL: sweep --samples: want a header and >= 3 samples of the cell"; fails=$((fails + 1)); }
# rounds: each measured cell timed in 3 rounds (block 0 1 2 in samples.csv), the note says so
sed 's/^counters = none/counters = none\nrounds = 3\nretries = 0/' "$T/k.ini" >"$T/k3.ini"
expect 0 "sweep: rounds = 3" -- sweep "$T/k3.ini" -q --samples --only '/fp32/.*/scalar/' -o "$T/r3"
[ "$(grep ',g/fp32/none/scalar/t1/b1,' "$T/r3/samples.csv" | cut -d, -f6 | sort -u | tr '\n' ' ')" = "0 1 2 " ] &&
    [ "$(grep -c 'timed in 3 rounds' "$T/r3/results.csv")" -eq 2 ] || {
    echo "FAIL: sweep rounds = 3: want blocks 0 1 2 and the rounds note on both cells"; fails=$((fails + 1)); }
# rounds and kill -9: the journal (rounds-pending.*) keeps every finished round, so --resume completes
# each cell exactly once from where it was (here all 8 first rounds and at least one second are kept)
printf '%s\n' '[axes]' 'models = g g2 dw dw2' 'precisions = fp32 int8-channel' 'isas = scalar' '[measure]' 'warmup = 1' \
    'iterations = 3' 'min_time_ms = 240' 'retries = 0' 'max_time_ms = 0' 'counters = none' 'rounds = 3' \
    '[model g]' 'gemm = 4x8x16' \
    '[model g2]' 'gemm = 2x8x16' '[model dw]' 'dwconv = 6x6x8' '[model dw2]' 'dwconv = 4x4x8' >"$T/kr.ini"
"$QB" sweep "$T/kr.ini" -q --samples -o "$T/kr" 2>/dev/null & sp=$!
i=0; while [ $i -lt 1200 ] && [ "$(cat "$T/kr/rounds-pending.samples" 2>/dev/null | wc -l)" -lt 9 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 $sp; wait $sp 2>/dev/null
cp "$T/kr/rounds-pending.samples" "$T/kr-journal" 2>/dev/null
expect 0 "sweep --resume after kill -9 in round 2" -- sweep "$T/kr.ini" -q --samples --resume -o "$T/kr"
/usr/bin/python3 -c 'import csv, sys, collections
d = sys.argv[1]
rows = list(csv.DictReader(open(d + "/results.csv")))
ids = collections.Counter("/".join([r["model"], r["precision"], r["method"], r["isa"]]) for r in rows)
blocks = collections.defaultdict(collections.Counter)
for r in csv.DictReader(open(d + "/samples.csv")):
    blocks[r["cell"]][r["block"]] += 1
kept = collections.defaultdict(dict)
for line in open(sys.argv[2]):
    f = line.split("\t")
    kept[f[0]][f[1]] = int(f[5])
ok = len(ids) == 8 and max(ids.values()) == 1 and len(kept) == 8
ok = ok and sum("restored from the journal" in r["note"] for r in rows) == 8
for c, b in kept.items():  # rounds of the killed run used as they were, the others timed once
    ok = ok and sorted(blocks[c]) == ["0", "1", "2"] and all(blocks[c][k] == n for k, n in b.items())
sys.exit(not ok)' "$T/kr" "$T/kr-journal" || { echo "FAIL: sweep rounds: kill -9 then --resume: want each of 8 cells once, its journalled rounds reused"; fails=$((fails + 1)); }
[ ! -e "$T/kr/rounds-pending.csv" ] && [ ! -e "$T/kr/rounds-pending.samples" ] || {
    echo "FAIL: sweep rounds: the journal was not removed after the rows were written"; fails=$((fails + 1)); }
sed 's/^rounds = 3/rounds = 0/' "$T/k3.ini" >"$T/k0.ini"
expect_msg 2 "rounds: '0' is not an integer" "sweep: rounds = 0" -- sweep "$T/k0.ini" --dry-run
sed 's/^rounds = 3/rounds = 3\nmax_time_ms = -5/' "$T/k3.ini" >"$T/kb.ini"
expect_msg 2 "max_time_ms: '-5' is not a number" "sweep: max_time_ms = -5" -- sweep "$T/kb.ini" --dry-run
# adaptive rounds: a cell wider than ci_threshold (here a tiny 0.0001%) after its 3 rounds gets more, round-robin,
# until its budget of timed time (max_time_ms) is spent; with max_time_ms = 0 it keeps its 3 rounds
printf '%s\n' '[axes]' 'models = g' 'precisions = fp32' 'isas = scalar' '[measure]' 'warmup = 1' 'iterations = 6' \
    'min_time_ms = 0' 'retries = 0' 'counters = none' 'rounds = 3' 'ci_threshold = 0.0001%' 'max_time_ms = 30' \
    '[model g]' 'gemm = 64x64x64' >"$T/ka.ini"
expect 0 "sweep: adaptive rounds" -- sweep "$T/ka.ini" -q -o "$T/ka"
sed 's/^max_time_ms = 30/max_time_ms = 0/' "$T/ka.ini" >"$T/ka0.ini"
expect 0 "sweep: max_time_ms = 0" -- sweep "$T/ka0.ini" -q -o "$T/ka0"
n=$(sed -n 's/.*timed in \([0-9]*\) rounds.*/\1/p' "$T/ka/results.csv")
# (the status follows the final interval: noisy with its "wider than" note, or ok where the rounds' medians
# tie on a coarse clock and the interval is +-0; both files have one row)
[ "${n:-0}" -ge 4 ] && [ "$n" -le 100 ] && grep -q 'timed in 3 rounds' "$T/ka0/results.csv" &&
    /usr/bin/python3 -c 'import csv, sys
rows = [r for f in sys.argv[1:] for r in csv.DictReader(open(f))]
sys.exit(not (len(rows) == 2 and all((r["status"] == "noisy") == ("wider than +-0.0% after" in r["note"]) and
              r["status"] in ("ok", "noisy") for r in rows)))' "$T/ka/results.csv" "$T/ka0/results.csv" || {
    echo "FAIL: sweep adaptive rounds: want more than 3 rounds within max_time_ms = 30 (got '${n}'), 3 with 0"
    fails=$((fails + 1)); }
[ "$(cat "$T/s1/results.csv" "$T/s2/results.csv" | grep -c ',\(ok\|noisy\),')" -eq 4 ] || {
    echo "FAIL: sweep: want 4 measured (ok or noisy) rows over both shards"; fails=$((fails + 1)); }
cat "$T/s1/results.csv" "$T/s2/results.csv" | grep -q ',unsupported,"\{0,1\}neon kernels cannot run here' || {
    echo "FAIL: sweep: no unsupported neon row"; fails=$((fails + 1)); }
grep -q '^git_sha: ' "$T/s1/results.meta.txt" || { echo "FAIL: sweep: no metadata"; fails=$((fails + 1)); }
# the git_sha of the rows is the revision the binary was built from (what made the numbers), not the
# current directory's checkout: the same from outside any repository
built=$("$QB" --version | sed -n 's/.*(git \([^)]*\)).*/\1/p')
qb_abs=$(cd "$(dirname "$QB")" && pwd)/$(basename "$QB")
case $built in
unknown*) ;;
*) (cd "$T" && "$qb_abs" sweep "$T/k.ini" -q --only '/fp32/.*/scalar/' -o "$T/gsha") >/dev/null 2>&1
   grep -q "^git_sha: $built\$" "$T/gsha/results.meta.txt" && grep -q ",$built," "$T/gsha/results.csv" || {
       echo "FAIL: sweep outside the repository: git_sha is not the binary's ($built): $(grep git_sha "$T/gsha/results.meta.txt")"
       fails=$((fails + 1)); } ;;
esac
expect_msg 2 "results.csv exists" "sweep: existing results without --resume" -- sweep "$T/k.ini" -q --shard 1/2 -o "$T/s1"
expect 0 "sweep: resume a finished shard" -- sweep "$T/k.ini" -q --shard 1/2 -o "$T/s1" --resume
[ "$("$QB" sweep "$T/k.ini" --dry-run --resume --shard 1/2 -o "$T/s1" 2>/dev/null | wc -l)" -eq 0 ] || {
    echo "FAIL: sweep --resume: finished cells not skipped"; fails=$((fails + 1)); }
expect 0 "merge two shards" -- merge "$T/s1/results.csv" "$T/s2/results.csv" -o "$T/all.csv"
# a results file of schema 1 (the first 48 columns) still tables, merges and resumes
{ head -1 "$T/s1/results.csv" | cut -d, -f1-48
  echo 'r,t,h,c,f,gcc,sha,s,g,,fp32,none,scalar,1,1,ok,,10,1,1,1,1,1,0.1,0.1,1000,none,,,,,,model,0.5,,100,200,300,400,,,,,,,,,'
} >"$T/old.csv"
expect 0 "table: a schema-1 file" -- table "$T/old.csv"
expect 0 "merge: a schema-1 file" -- merge "$T/old.csv" -o "$T/oldm.csv"
[ "$(head -1 "$T/oldm.csv" | tr ',' '\n' | wc -l)" -eq "$(head -1 "$T/s1/results.csv" | tr ',' '\n' | wc -l)" ] || {
    echo "FAIL: merge of a schema-1 file: want the current header"; fails=$((fails + 1)); }
mkdir -p "$T/old" && cp "$T/old.csv" "$T/old/results.csv"
expect_msg 0 "schema 1 upgraded to schema [0-9]" "sweep --resume: a schema-1 file is upgraded" -- sweep "$T/k.ini" -q --only '^g/fp32/none/scalar/' -o "$T/old" --resume
[ "$(wc -l <"$T/all.csv")" -eq 9 ] || { echo "FAIL: merge: want header + 8 rows"; fails=$((fails + 1)); }
expect_msg 0 "duplicate of" "merge: the same shard twice" -- merge "$T/s1/results.csv" "$T/s1/results.csv" -o "$T/dup.csv"
expect_msg 2 "also an input" "merge: output among the inputs" -- merge "$T/all.csv" -o "$T/all.csv"
sed '3s/,\(scalar\|neon\),/,sse9,/' "$T/s1/results.csv" >"$T/bad.csv"
expect_msg 2 "bad.csv:3: column isa" "merge: a bad row names file and line" -- merge "$T/bad.csv" -o "$T/m.csv"
[ ! -e "$T/m.csv" ] || { echo "FAIL: merge wrote output despite a bad input"; fails=$((fails + 1)); }
printf 'a,b\n1,2\n' >"$T/other.csv"
expect_msg 2 "other.csv:1:" "merge: not a results file" -- merge "$T/other.csv" -o "$T/m.csv"
expect_msg 2 "cannot open" "merge: missing input" -- merge "$T/none.csv" -o "$T/m.csv"
expect 2 "merge: no -o" -- merge "$T/all.csv"
expect_msg 2 "other.csv:1:" "merge: into a foreign file" -- merge "$T/s1/results.csv" -o "$T/other.csv"
printf '[axes]\nmodels = mlp\nprecisions = fp32\n[measure]\nwarmpu = 3\n' >"$T/bad.ini"
expect_msg 2 "bad.ini:5: .*unknown key 'warmpu'" "sweep: unknown key" -- sweep "$T/bad.ini" --dry-run
printf '[axes]\nmodels = mlp\nprecisions = fp32\n[axes]\n' >"$T/dup.ini"
expect_msg 2 "dup.ini:4: duplicate section" "sweep: duplicate section" -- sweep "$T/dup.ini" --dry-run
printf '[axes]\nmodels = mlp\nprecisions = fp32\nthreads = two\n' >"$T/val.ini"
expect_msg 2 "val.ini:4: " "sweep: bad value" -- sweep "$T/val.ini" --dry-run
expect_msg 2 "cannot open" "sweep: missing scenario" -- sweep "$T/none.ini"
expect 2 "sweep: bad shard" -- sweep "$T/k.ini" --shard 3/2 --dry-run
expect_msg 2 "--only" "sweep: bad regex" -- sweep "$T/k.ini" --only '(' --dry-run
printf 'name,unit,picojoules,source\nint8.add,op,x,y\n' >"$T/e.csv"
expect_msg 2 "e.csv:2: int8.add" "sweep: bad energy table" -- sweep "$T/k.ini" -q --energy-model "$T/e.csv" -o "$T/s3"
for f in scenarios/*.ini; do
    [ -f "$f" ] || continue
    # a model file or data folder the scenario names that is not there yet (the demo's, fetched or made by
    # scripts/demo) is refused, naming it
    # (whichever the sweep checks first: the message must name one of them)
    missing=$(sed -n 's/^\(onnx\|data\) *= *//p' "$f" | while read -r m; do [ -e "$m" ] || echo "$m"; done |
        paste -sd'|' | sed 's/|/\\|/g')
    if [ -n "$missing" ]; then
        expect_msg 2 "$f:[0-9]*: .*\\($missing\\).*\\(No such file\\|is not a folder\\)" "shipped scenario $f: $missing absent" -- \
            sweep "$f" --dry-run
    else
        expect 0 "shipped scenario $f parses" -- sweep "$f" --dry-run
    fi
done

# ---- I/O faults: a full disk or an unwritable path is exit 2 with the reason, never a crash or a
# half-written file (issue 15). /dev/full fails every write with ENOSPC.
expect_full_stdout() { # expect_full_stdout DESCRIPTION -- ARGS...: stdout into /dev/full must be exit 2
    what=$1; shift 2
    runs=$((runs + 1))
    err=$("$QB" "$@" 2>&1 >/dev/full)
    got=$?
    if [ "$got" -ne 2 ] || ! printf '%s' "$err" | grep -q "standard output: cannot write"; then
        echo "FAIL: $what: qbench $* >/dev/full: exit $got, want 2 naming standard output"
        echo "      stderr: $err"
        fails=$((fails + 1))
    fi
}
expect_full_stdout "info into a full disk" -- info
expect_full_stdout "kernels --csv into a full disk" -- kernels --csv
expect_full_stdout "inspect into a full disk" -- inspect "$T/q8.onnx"
expect_full_stdout "sweep --dry-run into a full disk" -- sweep "$T/k.ini" --dry-run
expect_full_stdout "table into a full disk" -- table "$T/all.csv"
expect_msg 2 "/dev/full: cannot write: No space left" "quantize into a full disk (was a double fclose)" -- \
    quantize "$T/syn.onnx" -p int8-channel -d synthetic --calib 16 -o /dev/full
mkdir -p "$T/qdir"
expect_msg 2 "qdir: cannot write: is a directory" "quantize onto a directory" -- \
    quantize "$T/syn.onnx" -p int8-channel -d synthetic --calib 16 -o "$T/qdir"
mkdir -p "$T/fullout" && ln -sf /dev/full "$T/fullout/output_0.pb"
expect_msg 2 "output_0.pb: cannot write: No space left" "run: an output on a full disk" -- \
    run "$T/good.onnx" --input-raw "$T/x.raw" --shape 1x1x4x4 -o "$T/fullout"
# a disk that fills up during the write (a 16 KiB tmpfs, root only): the old file stays, no temporary file
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=16k tmpfs "$T/small" 2>/dev/null; then
    printf 'old model\n' >"$T/small/keep.onnx"
    expect_msg 2 "keep.onnx: cannot write: No space left" "quantize into a disk that fills up" -- \
        quantize "$T/syn.onnx" -p int8-channel -d synthetic --calib 16 -o "$T/small/keep.onnx"
    [ "$(cat "$T/small/keep.onnx")" = "old model" ] || { echo "FAIL: a failed write changed the existing file"; fails=$((fails + 1)); }
    [ "$(ls -A "$T/small")" = "keep.onnx" ] || { echo "FAIL: a failed write left: $(ls -A "$T/small")"; fails=$((fails + 1)); }
    umount "$T/small"
else
    echo "cli: skipped the filling-disk case (needs root to mount a small tmpfs)"
fi
# results files: a partial last row is cut on --resume, a second writer is refused, a full disk keeps whole rows
mkdir -p "$T/p" && cp "$T/s1/results.csv" "$T/p/results.csv" && printf 'g,fp32,none,sca' >>"$T/p/results.csv"
expect_msg 0 "dropped 15 bytes of an incomplete last row" "sweep --resume repairs a partial last row" -- \
    sweep "$T/k.ini" -q --shard 1/2 -o "$T/p" --resume
expect 0 "table reads the repaired file" -- table "$T/p/results.csv"
if command -v flock >/dev/null; then
    mkdir -p "$T/l" && cp "$T/s1/results.csv" "$T/l/results.csv"
    flock "$T/l/results.csv" sleep 30 & holder=$!
    sleep 0.5
    expect_msg 2 "results.csv: locked by process" "sweep: a second writer into the same directory" -- \
        sweep "$T/k.ini" -q -o "$T/l" --resume
    kill $holder 2>/dev/null; wait $holder 2>/dev/null
fi
expect_msg 2 "/dev/full: cannot write: No space left" "merge into a full disk" -- merge "$T/s1/results.csv" -o /dev/full
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=8k tmpfs "$T/small" 2>/dev/null; then
    expect_msg 2 "the incomplete row was removed" "sweep into a disk that fills up" -- sweep "$T/k.ini" -q -o "$T/small/out"
    tail -c 1 "$T/small/out/results.csv" | od -c | grep -q '\\n' || {
        echo "FAIL: sweep on a full disk left a partial row"; fails=$((fails + 1)); }
    expect 0 "table reads what the full-disk sweep kept" -- table "$T/small/out/results.csv"
    umount "$T/small"
fi

# cachegrind children die with the sweep; their temporary directories go on SIGTERM, and stale ones
# of dead processes (kill -9) are removed by the next run
if [ -z "${QB_CLI_QUICK:-}" ] && command -v valgrind >/dev/null; then
    printf '%s\n' '[axes]' 'models = g' 'precisions = fp32' 'isas = scalar' '[measure]' 'warmup = 1' 'iterations = 3' \
        'min_time_ms = 0' 'counters = cachegrind' '[model g]' 'gemm = 4x8x16' >"$T/cg.ini"
    # the stale directory is named after a process of this run that has exited, so that two test runs
    # at once do not share it
    sh -c 'exit 0' & dead=$!; wait $dead
    mkdir -p /tmp/qbench-cg-$dead-stale && touch /tmp/qbench-cg-$dead-stale/log
    expect 0 "sweep with cachegrind counters" -- sweep "$T/cg.ini" -q -o "$T/cg1"
    [ ! -e /tmp/qbench-cg-$dead-stale ] || { echo "FAIL: a stale cachegrind directory was not removed"; fails=$((fails + 1)); }
    "$QB" sweep "$T/cg.ini" -q -o "$T/cg2" 2>/dev/null & sp=$!
    i=0; while [ $i -lt 600 ] && ! ls -d /tmp/qbench-cg-$sp-* >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
    kill -TERM $sp; wait $sp 2>/dev/null
    sleep 1
    if ls -d /tmp/qbench-cg-$sp-* >/dev/null 2>&1; then echo "FAIL: SIGTERM left /tmp/qbench-cg-$sp-*"; fails=$((fails + 1)); fi
    if pgrep -f "cachegrind.*qbench-cg-$sp-" >/dev/null; then echo "FAIL: valgrind outlived the sweep"; fails=$((fails + 1)); fi
fi

# table: speed-ups within one machine of a merged file (not one host's int8 against another's fp32);
# implausible values refused with the column named
hdr=$(head -1 "$T/s1/results.csv")
mkrow() { # mkrow HOST PRECISION METHOD MEDIAN_MS [COLUMN VALUE]: a results row, other fields empty
    out=""; IFS=,
    for c in $hdr; do
        case $c in run_id) v="r-$1" ;; host) v=$1 ;; model) v=m ;; precision) v=$2 ;; method) v=$3 ;; isa) v=avx2 ;;
            threads | batch) v=1 ;; status) v=ok ;; latency_ms_median) v=$4 ;; *) v="" ;; esac
        [ "$c" = "${5:-}" ] && v=$6
        out="$out${out:+,}$v"
    done
    unset IFS; printf '%s\n' "$out"
}
{ echo "$hdr"; mkrow hostB fp32 none 10; mkrow hostA int8-channel ptq-minmax 0.5; mkrow hostA fp32 none 1
  mkrow hostB int8-channel ptq-minmax 5; } >"$T/two.csv"
[ "$("$QB" table "$T/two.csv" --format csv 2>/dev/null | grep -c 'int8-channel.*2.00x')" -eq 2 ] || {
    echo "FAIL: table compares across hosts"; fails=$((fails + 1)); }
"$QB" table "$T/two.csv" | grep -q '| hostA: m |' || { echo "FAIL: table of two hosts does not name them"; fails=$((fails + 1)); }
for bad in "latency_ms_median -1" "threads 1e20" "top1_accuracy 150" "top1_agreement -3" "accuracy_drop_pt 101"; do
    set -- $bad
    { echo "$hdr"; mkrow h fp32 none 1 "$1" "$2"; } >"$T/implausible.csv"
    expect_msg 2 "implausible.csv:2: column $1" "table: implausible $1 = $2" -- table "$T/implausible.csv"
    expect_msg 2 "implausible.csv:2: column $1" "merge: implausible $1 = $2" -- merge "$T/implausible.csv" -o "$T/imp-out.csv"
done
# a directory where a results file is expected: both CSV readers (results.c, rtable.c) say so
expect_msg 2 "$T: cannot open: is a directory" "table: a directory" -- table "$T"
expect_msg 2 "$T: cannot open: is a directory" "advise: a directory" -- advise "$T"
expect_msg 2 "$T: cannot open: is a directory" "compare: a directory" -- compare "$T" "$T/implausible.csv"

# output_hash (results schema 4): the outputs on the evaluation inputs, 16 hex digits; integer paths are
# bit-exact across ISAs (the same hash on scalar and on the best ISA), fp32 and int8 outputs differ
hash_of() { "$QB" eval "$T/syn.onnx" -d synthetic --limit 100 --calib 32 --csv "$@" 2>/dev/null |
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "output_hash") c = i; next } c { v = $c } END { print v }'; }
best=$("$QB" info | awk '$1 == "isa" && $3 == "yes" { i = $2 } END { print i }')
h_s=$(hash_of -p int8-channel -i scalar); h_b=$(hash_of -p int8-channel -i "$best"); h_f=$(hash_of -i scalar)
echo "$h_s" | grep -Eqx '[0-9a-f]{16}' || { echo "FAIL: eval --csv output_hash '$h_s' is not 16 hex digits"; fails=$((fails + 1)); }
[ "$h_s" = "$h_b" ] || { echo "FAIL: int8-channel output_hash differs between scalar and $best ($h_s, $h_b)"; fails=$((fails + 1)); }
[ "$h_s" != "$h_f" ] || { echo "FAIL: fp32 and int8-channel outputs have one output_hash"; fails=$((fails + 1)); }
runs=$((runs + 3))
# a schema-2 results file (no output_hash column) still reads in table and merge, and compare sees no hash
hdr3=$hdr hdr=$(echo "$hdr3" | cut -d, -f1-66)
{ echo "$hdr"; mkrow h2 fp32 none 1; mkrow h2 int8-channel ptq-minmax 0.5; } >"$T/schema2.csv"
hdr=$hdr3
expect 0 "table of a schema-2 file" -- table "$T/schema2.csv"
expect 0 "merge of a schema-2 and a current-schema file" -- merge "$T/schema2.csv" "$T/two.csv" -o "$T/s23.csv"
[ "$(head -1 "$T/s23.csv")" = "$hdr3" ] && [ "$(wc -l <"$T/s23.csv")" -eq 7 ] || {
    echo "FAIL: merge of schema 2 and the current: not the current header and all 6 rows"; fails=$((fails + 1)); }
runs=$((runs + 1))

# every verb's usage comes from the one verb table (harness/verbs/usage.c): `qbench VERB --help`, the
# top-level help and the usage line after a bad option print the same synopsis
for v in $("$QB" --help | awk '/^  qbench [a-z]/ { print $2 }' | sort -u); do
    runs=$((runs + 1))
    first=$("$QB" "$v" --help | head -1)
    case $first in "usage: qbench $v"*) ;; *) echo "FAIL: $v --help starts with '$first'"; fails=$((fails + 1)); continue ;; esac
    "$QB" --help | grep -qxF "  qbench ${first#usage: qbench }" || {
        echo "FAIL: $v: --help synopsis is not the top-level help's"; fails=$((fails + 1)); continue; }
    set -- "$v" --no-such-option
    [ "$v" = history ] && set -- history "$T/h.db" show --no-such-option
    rc=0; "$QB" "$@" >/dev/null 2>"$T/usage.err" || rc=$?
    if [ $rc -ne 2 ] || ! grep -q "^qbench $v: .*--no-such-option" "$T/usage.err" ||
        ! grep -qF "$first" "$T/usage.err" || ! grep -q "(qbench $v --help)" "$T/usage.err"; then
        echo "FAIL: $v --no-such-option (exit $rc): not the option named and the table's usage:"; cat "$T/usage.err"
        fails=$((fails + 1))
    fi
done

echo "cli: $runs cases, $fails failed"
[ "$fails" -eq 0 ]
