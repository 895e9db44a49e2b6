# Makefile - the one entry point of qbench.
#   make            build ./qbench (runs on any x86-64 or AArch64; kernels
#                   dispatch at run time, ISA flags only on their own files)
#   make test       cmocka unit tests, kernel checks (VNNI natively and
#                   through SIMDe), CLI bad-input tests; SANITIZE=1 for
#                   AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-arm   cross-compile the kernel tests for AArch64, run them
#                   under qemu-aarch64-static (with and without dotprod/fp16)
#   make demo       what a new user runs first
#   make bench      kernel benchmark into reports/kernels.csv

CC ?= gcc
ifeq ($(origin CC),default)
CC = gcc
endif
BUILD ?= build
ARCH := $(shell $(CC) -dumpmachine | cut -d- -f1)

CFLAGS ?= -O2 -g
QB_CFLAGS = -std=gnu11 -Wall -Wextra -ffp-contract=off -I. -MMD -MP
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

TEST_LIBS = -lcmocka
ifeq ($(ARCH),aarch64)
ifneq ($(shell uname -m),aarch64)
# cross build: cmocka for arm64 comes from Debian multiarch (libcmocka-dev:arm64)
TEST_CFLAGS = -idirafter /usr/include
TEST_LIBS = -L/usr/lib/aarch64-linux-gnu -Wl,-rpath,/usr/lib/aarch64-linux-gnu -lcmocka
endif
endif

.PHONY: all test test-unit test-arm demo bench clean
all: qbench

$(BUILD)/qbench: $(BUILD)/harness/main.o $(HARNESS_OBJ) $(KERNEL_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

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

TESTS = $(BUILD)/tests/test_scalar $(BUILD)/tests/test_kernels

test: $(BUILD)/qbench $(TESTS)
	tests/cli.sh $(BUILD)/qbench
	@set -e; for t in $(TESTS); do echo "== $$t"; $$t; done

QEMU = qemu-aarch64-static -L /usr/aarch64-linux-gnu
test-arm:
	$(MAKE) --no-print-directory CC=aarch64-linux-gnu-gcc BUILD=build-arm build-arm/tests/test_scalar build-arm/tests/test_kernels
	@echo "== qemu -cpu max (NEON + dotprod + fp16)"
	$(QEMU) -cpu max build-arm/tests/test_scalar
	$(QEMU) -cpu max build-arm/tests/test_kernels
	@echo "== qemu -cpu cortex-a72 (NEON only: no dotprod, no fp16)"
	$(QEMU) -cpu cortex-a72 build-arm/tests/test_scalar
	$(QEMU) -cpu cortex-a72 build-arm/tests/test_kernels

demo: qbench
	./qbench info
	./qbench kernels
	./qbench gemm -p all -i all -s 256x256x256 --check

bench: qbench
	@mkdir -p reports
	scripts/bench-kernels ./qbench reports/kernels.csv

clean:
	rm -rf build build-san build-arm qbench

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
