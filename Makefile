# mnc — an ahead-of-time compiler from .mn models to C that trains.
#
#   make           build ./mnc and the runtime (build/libmnrt.a)
#   make test      every test; prints "N passed, M failed" last
#   make demo      compile an example, train it, print its loss falling
#   make deps      install flex, bison, OpenBLAS and CUnit when missing
#   make golden-check / golden-update   the snapshots in generated/
#
# make, make test and make demo call `make deps` first, so a fresh Debian
# machine needs nothing but this repository.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Werror
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS)
# The generated code is C99 and must compile with -pedantic.
GEN_CFLAGS = -std=c99 -Wall -Wextra -Werror -pedantic -O2
BLAS_LIBS  = -lopenblas -lm

BUILD ?= build
MNC   ?= mnc
COMPILER_SRCS = compiler/util.c compiler/diag.c compiler/ast.c compiler/ir.c compiler/shape.c \
                compiler/lower.c compiler/check.c compiler/autodiff.c compiler/fuse.c \
                compiler/plan.c compiler/emit_c.c
RUNTIME_SRCS  = runtime/mn_rng.c runtime/mn_init.c runtime/mn_safetensors.c runtime/mn_optim.c runtime/mn_threads.c
PARSER_GEN    = $(BUILD)/mn.tab.c $(BUILD)/lex.mn.c
COMPILER_OBJS = $(COMPILER_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/mn.tab.o $(BUILD)/lex.mn.o
RUNTIME_OBJS  = $(RUNTIME_SRCS:%.c=$(BUILD)/%.o)
UNIT_TESTS    = $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))

.PHONY: all deps test demo golden-check golden-update clean unit-tests conformance

all: deps
	@$(MAKE) --no-print-directory $(MNC) $(BUILD)/libmnrt.a

# ---- dependencies (Debian packages) ----------------------------------------------------
DEB_PACKAGES = flex bison libopenblas-dev libcunit1-dev clang
# PyTorch, for the live conformance comparison only (make conformance).
REFERENCE_PACKAGES = python3-torch python3-numpy
# install_missing PACKAGES: apt-get install those that dpkg does not know.
install_missing = missing=""; for p in $(1); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "make: installing$$missing"; \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi
deps:
	@$(call install_missing,$(DEB_PACKAGES))

# ---- the compiler --------------------------------------------------------------------------
$(BUILD)/mn.tab.c $(BUILD)/mn.tab.h: grammar/mn.y compiler/ast.h compiler/mnc.h
	@mkdir -p $(BUILD)
	bison -Wall -Werror --defines=$(BUILD)/mn.tab.h -o $(BUILD)/mn.tab.c grammar/mn.y

$(BUILD)/lex.mn.c: grammar/mn.l $(BUILD)/mn.tab.h
	flex -o $@ grammar/mn.l

$(BUILD)/%.o: %.c compiler/mnc.h compiler/ast.h compiler/ir.h compiler/ops.def runtime/mn_runtime.h runtime/mn_math.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Icompiler -Iruntime -I$(BUILD) -c $< -o $@

$(BUILD)/mn.tab.o: $(BUILD)/mn.tab.c
	$(CC) $(ALL_CFLAGS) -Icompiler -I$(BUILD) -c $< -o $@

$(BUILD)/lex.mn.o: $(BUILD)/lex.mn.c
	$(CC) $(ALL_CFLAGS) -Icompiler -I$(BUILD) -c $< -o $@

$(BUILD)/compiler/lower.o $(BUILD)/compiler/main.o: $(BUILD)/mn.tab.h

$(MNC): $(COMPILER_OBJS) $(BUILD)/compiler/main.o
	$(CC) $(ALL_CFLAGS) $^ -lm -o $@

# The compiler again, under AddressSanitizer + UBSan, and with clang: make
# test runs every model and broken model through the first and checks that
# the second builds warning-free.
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
$(BUILD)/asan/mnc: $(COMPILER_SRCS) compiler/main.c grammar/mn.y grammar/mn.l compiler/*.h compiler/ops.def
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan MNC=$@ CFLAGS="$(SAN_FLAGS)" $@
$(BUILD)/clang/mnc: $(COMPILER_SRCS) compiler/main.c grammar/mn.y grammar/mn.l compiler/*.h compiler/ops.def
	@$(MAKE) --no-print-directory CC=clang BUILD=$(BUILD)/clang MNC=$@ $@

# ---- the runtime ------------------------------------------------------------------------------
# -fno-math-errno lets the optimizers' loops vectorise (sqrt without errno).
$(RUNTIME_OBJS): ALL_CFLAGS += -fno-math-errno
$(BUILD)/libmnrt.a: $(RUNTIME_OBJS)
	ar rcs $@ $^

# ---- tests --------------------------------------------------------------------------------------
$(BUILD)/test_%: tests/unit/test_%.c $(COMPILER_OBJS) $(BUILD)/libmnrt.a runtime/mn_math.h
	$(CC) $(ALL_CFLAGS) -Icompiler -Iruntime -I$(BUILD) $< $(COMPILER_OBJS) $(BUILD)/libmnrt.a -lcunit -lm -o $@

unit-tests: $(UNIT_TESTS:%=$(BUILD)/test_%)

test: deps
	@$(MAKE) --no-print-directory -j2 $(MNC) $(BUILD)/libmnrt.a unit-tests $(BUILD)/asan/mnc
	@BUILD=$(BUILD) bash tests/run_tests.sh

# ---- conformance with PyTorch --------------------------------------------------------------
# A case's driver: its generated model (float32, prefix m) with the exchange
# and comparison program. make test checks every case against its committed
# golden (tests/golden/); make conformance reruns PyTorch live, and
# make conformance UPDATE=1 rewrites the goldens.
$(BUILD)/conformance/%/driver: examples/%.mn $(MNC) $(BUILD)/libmnrt.a tests/conformance/driver.c \
        tests/conformance/tolerances.h tests/harness/harness.h runtime/mn_math.h
	@mkdir -p $(dir $@)
	./$(MNC) $< --prefix m -o $(dir $@)m.c
	$(CC) $(GEN_CFLAGS) -Iruntime -Itests/harness -Itests/conformance -I$(dir $@) tests/conformance/driver.c \
	    $(dir $@)m.c $(BUILD)/libmnrt.a $(BLAS_LIBS) -o $@

# The same for the extra conformance models (layers no seed model uses).
$(BUILD)/conformance/%/driver: tests/conformance/cases/%.mn $(MNC) $(BUILD)/libmnrt.a tests/conformance/driver.c \
        tests/conformance/tolerances.h tests/harness/harness.h runtime/mn_math.h
	@mkdir -p $(dir $@)
	./$(MNC) $< --prefix m -o $(dir $@)m.c
	$(CC) $(GEN_CFLAGS) -Iruntime -Itests/harness -Itests/conformance -I$(dir $@) tests/conformance/driver.c \
	    $(dir $@)m.c $(BUILD)/libmnrt.a $(BLAS_LIBS) -o $@

conformance: deps
	@$(call install_missing,$(REFERENCE_PACKAGES))
	@$(MAKE) --no-print-directory $(MNC) $(BUILD)/libmnrt.a
	@BUILD=$(BUILD) /usr/bin/python3 tests/reference/conformance.py $(if $(UPDATE),--update)

# ---- snapshots of the generated C -----------------------------------------------------------
EXAMPLES = $(sort $(wildcard examples/*.mn))

golden-check: mnc
	@bash tests/golden.sh check $(EXAMPLES)

golden-update: mnc
	@bash tests/golden.sh update $(EXAMPLES)

# ---- the demo ------------------------------------------------------------------------------------
demo: deps
	@$(MAKE) --no-print-directory mnc $(BUILD)/libmnrt.a
	@mkdir -p $(BUILD)/demo
	./mnc examples/two_concat.mn -o $(BUILD)/demo/two_concat.c
	$(CC) $(GEN_CFLAGS) -Iruntime -I$(BUILD)/demo examples/demo/demo.c $(BUILD)/demo/two_concat.c \
	    $(BUILD)/libmnrt.a $(BLAS_LIBS) -o $(BUILD)/demo/demo
	$(BUILD)/demo/demo

clean:
	rm -rf $(BUILD) mnc

# ---- the benchmark (issue 6; not part of make test) ------------------------------------------
# mnc's generated train_step/predict against PyTorch's reference models, every
# example and examples/bench/big_mlp.mn, batch 32 and 256, 1 and 2 threads:
# a markdown table on stdout and bench/results.tsv. Installs python3-torch.
.PHONY: bench
bench: deps
	@$(call install_missing,$(REFERENCE_PACKAGES))
	@$(MAKE) --no-print-directory $(MNC) $(BUILD)/libmnrt.a
	@BUILD=$(BUILD) CC=$(CC) /usr/bin/python3 bench/bench.py
