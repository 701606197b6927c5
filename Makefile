# mnc — an ahead-of-time compiler from .mn models to C that trains.
#
#   make           build ./mnc and the runtime (build/libmnrt.a)
#   make test      every test; prints "N passed, M failed" last; mnc verifies its IR
#                  after every pass (MNC_VERIFY=1)
#                  (make test SECTION=gradcheck MODEL=two_concat: one section, one model;
#                  bash tests/run_tests.sh --list names the sections)
#   make demo      train a three-input model on a real data set with its generated
#                  trainer; held-out accuracy, a few predictions
#   make deps      install the Debian packages the build and tests need when missing
#                  (flex, bison, OpenBLAS, CUnit, clang and its sanitizer/libFuzzer runtimes,
#                  cmake, pkg-config, graphviz, man-db, valgrind, time)
#   make fuzz      run the libFuzzer harnesses of tests/fuzz/, FUZZ_SECONDS each (default 60)
#   make install   mnc, the runtime (static and shared), its headers, mnrt.pc
#                  and the man page under PREFIX (default /usr/local; DESTDIR);
#                  make uninstall removes them
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
                compiler/lower.c compiler/lower_args.c compiler/lower_fn.c compiler/layers.c \
                compiler/check.c compiler/autodiff.c compiler/fuse.c \
                compiler/plan.c compiler/emit_value.c compiler/emit_linear.c compiler/emit_elementwise.c \
                compiler/emit_conv.c compiler/emit_norm.c compiler/emit_recurrent.c compiler/emit_loss.c compiler/emit_c.c \
                compiler/summary.c compiler/emit_trainer.c compiler/driver.c
RUNTIME_SRCS  = runtime/mn_rng.c runtime/mn_init.c runtime/mn_safetensors.c runtime/mn_optim.c runtime/mn_threads.c runtime/mn_gemm.c \
                runtime/mn_data.c runtime/mn_trainer.c
PARSER_GEN    = $(BUILD)/mn.tab.c $(BUILD)/lex.mn.c
COMPILER_OBJS = $(COMPILER_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/mn.tab.o $(BUILD)/lex.mn.o
RUNTIME_OBJS  = $(RUNTIME_SRCS:%.c=$(BUILD)/%.o)
UNIT_TESTS    = $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))

.PHONY: all deps test demo golden-check golden-update clean unit-tests conformance

all: deps
	@$(MAKE) --no-print-directory $(MNC) $(BUILD)/libmnrt.a

# ---- dependencies (Debian packages) ----------------------------------------------------
DEB_PACKAGES = flex bison libopenblas-dev libcunit1-dev clang cmake pkg-config graphviz man-db \
               libclang-rt-dev valgrind time libopenmpi-dev openmpi-bin
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

$(BUILD)/%.o: %.c compiler/mnc.h compiler/ast.h compiler/ir.h compiler/lower.h compiler/emit.h compiler/ops.def compiler/unary.def runtime/mn_runtime.h runtime/mn_math.h runtime/mn_internal.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Icompiler -Iruntime -I$(BUILD) -c $< -o $@

$(BUILD)/mn.tab.o: $(BUILD)/mn.tab.c
	$(CC) $(ALL_CFLAGS) -Icompiler -I$(BUILD) -c $< -o $@

$(BUILD)/lex.mn.o: $(BUILD)/lex.mn.c
	$(CC) $(ALL_CFLAGS) -Icompiler -I$(BUILD) -c $< -o $@

$(BUILD)/compiler/lower.o $(BUILD)/compiler/main.o: $(BUILD)/mn.tab.h

$(MNC): $(COMPILER_OBJS) $(BUILD)/compiler/main.o
	$(CC) $(ALL_CFLAGS) $^ -lm -pthread -o $@

# The compiler again, under AddressSanitizer + UBSan, and with clang: make
# test runs every model and broken model through the first and checks that
# the second builds warning-free. The first is a debug build (-DMNC_DEBUG):
# it verifies the IR after every pass, as MNC_VERIFY=1 does.
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
$(BUILD)/asan/mnc: $(COMPILER_SRCS) compiler/main.c grammar/mn.y grammar/mn.l compiler/*.h compiler/ops.def compiler/unary.def
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan MNC=$@ CFLAGS="$(SAN_FLAGS) -DMNC_DEBUG" $@
$(BUILD)/clang/mnc: $(COMPILER_SRCS) compiler/main.c grammar/mn.y grammar/mn.l compiler/*.h compiler/ops.def compiler/unary.def
	@$(MAKE) --no-print-directory CC=clang BUILD=$(BUILD)/clang MNC=$@ $@

# ---- the runtime ------------------------------------------------------------------------------
# -fno-math-errno lets the optimizers' loops vectorise (sqrt without errno).
$(RUNTIME_OBJS): ALL_CFLAGS += -fno-math-errno
$(BUILD)/libmnrt.a: $(RUNTIME_OBJS)
	ar rcs $@ $^

# ---- the MPI layer (issue 15): data-parallel training --------------------------------------------
# build/libmnrt_mpi.a: runtime/mn_mpi.c compiled with mpicc, apart from
# libmnrt.a, so that a build without MPI needs neither mpicc nor libmpi.
# Link it before libmnrt.a, with mpicc (or with `mpicc --showme:link`).
MPICC ?= mpicc
.PHONY: mpi
mpi: $(BUILD)/libmnrt_mpi.a
$(BUILD)/runtime/mn_mpi.o: runtime/mn_mpi.c runtime/mn_mpi.h runtime/mn_runtime.h
	@mkdir -p $(dir $@)
	$(MPICC) $(ALL_CFLAGS) -Iruntime -c $< -o $@
$(BUILD)/libmnrt_mpi.a: $(BUILD)/runtime/mn_mpi.o
	ar rcs $@ $^

# make test-large (not part of make test: about 3 minutes): a 4 GiB .npy data set
# (sparse files) trains one epoch with the trainer's max RSS far below its size,
# on 1 process and on 2 ranks (tests/large/npy4g.sh; figures in README).
.PHONY: test-large
test-large: deps
	@$(MAKE) --no-print-directory $(MNC) $(BUILD)/libmnrt.a $(BUILD)/libmnrt_mpi.a
	@BUILD=$(BUILD) tests/large/npy4g.sh

# make bench-mpi (not part of make test): data-parallel samples/s of big_mlp and
# text_category at global batch 256 on 1 and 2 ranks, overlapped or not.
.PHONY: bench-mpi
bench-mpi: deps
	@$(MAKE) --no-print-directory $(MNC) $(BUILD)/libmnrt.a $(BUILD)/libmnrt_mpi.a
	@BUILD=$(BUILD) sh bench/mpi.sh

# ---- the shared runtime (issue 7) ---------------------------------------------------------------
# build/libmnrt.so.X.Y.Z from the same sources compiled again with -fPIC into
# $(BUILD)/pic/, soname libmnrt.so.X (X: MNC_VERSION's major number), with
# the symlinks libmnrt.so.X and libmnrt.so beside it. The library records
# its own dependencies (OpenBLAS, libm, pthreads): --no-undefined checks it.
MNRT_VERSION := $(shell sed -n 's/^.define MNC_VERSION "\([^"]*\)".*/\1/p' compiler/mnc.h)
MNRT_SOMAJOR  = $(firstword $(subst ., ,$(MNRT_VERSION)))
MNRT_SONAME   = libmnrt.so.$(MNRT_SOMAJOR)
MNRT_SOFILE   = libmnrt.so.$(MNRT_VERSION)
RUNTIME_PIC_OBJS = $(RUNTIME_SRCS:%.c=$(BUILD)/pic/%.o)

.PHONY: shared
shared: $(BUILD)/libmnrt.so

$(BUILD)/pic/%.o: %.c runtime/mn_runtime.h runtime/mn_math.h runtime/mn_internal.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -Iruntime -c $< -o $@
$(RUNTIME_PIC_OBJS): ALL_CFLAGS += -fno-math-errno

$(BUILD)/$(MNRT_SOFILE): $(RUNTIME_PIC_OBJS)
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(MNRT_SONAME) -Wl,--no-undefined $(LDFLAGS) $^ \
	    $(BLAS_LIBS) -pthread -o $@
$(BUILD)/libmnrt.so: $(BUILD)/$(MNRT_SOFILE)
	ln -sf $(MNRT_SOFILE) $(BUILD)/$(MNRT_SONAME)
	ln -sf $(MNRT_SONAME) $@

# ---- install / uninstall (issue 7) -----------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=staging]: bin/mnc, lib/libmnrt.a,
# lib/libmnrt.so (+ soname links), include/mn_runtime.h and mn_math.h,
# lib/pkgconfig/mnrt.pc, share/man/man1/mnc.1. Then, with PREFIX/lib/pkgconfig
# on PKG_CONFIG_PATH (or a system prefix), generated code builds with
#   cc -std=c99 model.c main.c $(pkg-config --cflags --libs mnrt)
# mnrt.pc requires openblas.pc (libopenblas-dev) when pkg-config knows it,
# and names -lopenblas itself otherwise.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PKG_CONFIG ?= pkg-config
INSTALL    ?= install
LDCONFIG   ?= ldconfig
MNRT_HEADERS = runtime/mn_runtime.h runtime/mn_math.h
# mnrt.pc's paths, relative to ${prefix} where they lie under PREFIX.
pc_path = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
PC_REQUIRES = $(if $(shell $(PKG_CONFIG) --exists openblas 2>/dev/null && echo y),openblas)
PC_BLAS     = $(if $(PC_REQUIRES),,-lopenblas)

.PHONY: install uninstall
$(BUILD)/mnrt.pc: runtime/mnrt.pc.in compiler/mnc.h
	@mkdir -p $(BUILD)
	sed -e 's|@prefix@|$(PREFIX)|' -e 's|@bindir@|$(call pc_path,$(BINDIR))|' \
	    -e 's|@libdir@|$(call pc_path,$(LIBDIR))|' -e 's|@includedir@|$(call pc_path,$(INCLUDEDIR))|' \
	    -e 's|@version@|$(MNRT_VERSION)|' -e 's|@requires@|$(PC_REQUIRES)|' -e 's|@blas@|$(PC_BLAS)|' \
	    -e '/^Libs:/s|  *| |g' -e 's| *$$||' $< >$@.tmp && mv $@.tmp $@
# Rebuilt on every install: PREFIX may differ from the last one.
.PHONY: $(BUILD)/mnrt.pc

install: $(MNC) $(BUILD)/libmnrt.a $(BUILD)/libmnrt.so $(BUILD)/mnrt.pc docs/mnc.1
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 755 $(MNC) $(DESTDIR)$(BINDIR)/mnc
	$(INSTALL) -m 644 $(BUILD)/libmnrt.a $(DESTDIR)$(LIBDIR)/libmnrt.a
	$(INSTALL) -m 755 $(BUILD)/$(MNRT_SOFILE) $(DESTDIR)$(LIBDIR)/$(MNRT_SOFILE)
	ln -sf $(MNRT_SOFILE) $(DESTDIR)$(LIBDIR)/$(MNRT_SONAME)
	ln -sf $(MNRT_SONAME) $(DESTDIR)$(LIBDIR)/libmnrt.so
	$(INSTALL) -m 644 $(MNRT_HEADERS) $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(BUILD)/mnrt.pc $(DESTDIR)$(PKGCONFIGDIR)/mnrt.pc
	$(INSTALL) -m 644 docs/mnc.1 $(DESTDIR)$(MANDIR)/man1/mnc.1
	@# the dynamic linker's cache, for a system prefix installed for real
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v $(LDCONFIG) >/dev/null && \
	    case "$(LIBDIR)" in /usr/lib|/usr/local/lib) true;; *) false;; esac; then $(LDCONFIG); fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mnc $(DESTDIR)$(LIBDIR)/libmnrt.a $(DESTDIR)$(LIBDIR)/libmnrt.so \
	    $(DESTDIR)$(LIBDIR)/$(MNRT_SONAME) $(DESTDIR)$(LIBDIR)/$(MNRT_SOFILE) \
	    $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(notdir $(MNRT_HEADERS))) \
	    $(DESTDIR)$(PKGCONFIGDIR)/mnrt.pc $(DESTDIR)$(MANDIR)/man1/mnc.1

# ---- tests --------------------------------------------------------------------------------------
$(BUILD)/test_%: tests/unit/test_%.c $(COMPILER_OBJS) $(BUILD)/libmnrt.a runtime/mn_math.h
	$(CC) $(ALL_CFLAGS) -Icompiler -Iruntime -I$(BUILD) $< $(COMPILER_OBJS) $(BUILD)/libmnrt.a -lcunit $(BLAS_LIBS) -pthread -o $@

unit-tests: $(UNIT_TESTS:%=$(BUILD)/test_%)

# SECTION and MODEL only from the command line (make test SECTION=snapshots
# MODEL=two_concat), so that a MODEL in the environment leaves make test whole;
# MODEL alone runs every section with that model in its loops.
TEST_SECTION = $(if $(filter command line,$(origin SECTION)),$(SECTION))
TEST_MODEL   = $(if $(filter command line,$(origin MODEL)),$(MODEL))
test: deps
	@$(MAKE) --no-print-directory -j2 $(MNC) $(BUILD)/libmnrt.a unit-tests $(BUILD)/asan/mnc fuzzers
	@BUILD=$(BUILD) bash tests/run_tests.sh $(or $(TEST_SECTION),$(if $(TEST_MODEL),all)) $(TEST_MODEL)

# ---- fuzzing (issue 13) ---------------------------------------------------------------------
# libFuzzer harnesses (clang, ASan + UBSan) in tests/fuzz/, each with a seed
# corpus (tests/fuzz/corpus/NAME/), a dictionary (NAME.dict) and the inputs
# that once found a bug (tests/fuzz/crashers/NAME/):
#   compile  the compiler, parse through emit, in process, on .mn bytes
#   load     a generated model's m_load on safetensors bytes
#   data     the trainer's CSV and .npy readers
# make fuzz runs each for FUZZ_SECONDS (new inputs go to build/fuzz/corpus/NAME,
# a crash to build/fuzz/crash-NAME-*); make test replays the committed corpus and
# crashers through the same binaries.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS    = -std=c11 $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
FUZZERS       = compile load data
FUZZ_BINS     = $(FUZZERS:%=$(BUILD)/fuzz/fuzz_%)
.PHONY: fuzz fuzzers fuzz-replay
fuzzers: $(FUZZ_BINS)

$(BUILD)/fuzz/fuzz_compile: tests/fuzz/fuzz_compile.c $(COMPILER_SRCS) $(PARSER_GEN) compiler/*.h compiler/ops.def compiler/unary.def \
        runtime/mn_runtime.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Icompiler -Iruntime -I$(BUILD) $< $(COMPILER_SRCS) $(PARSER_GEN) -lm -o $@
$(BUILD)/fuzz/load/m.c: examples/two_concat.mn $(MNC)
	@mkdir -p $(dir $@)
	./$(MNC) $< --prefix m -o $@
$(BUILD)/fuzz/fuzz_load: tests/fuzz/fuzz_load.c $(BUILD)/fuzz/load/m.c $(RUNTIME_SRCS) runtime/*.h
	$(FUZZ_CC) $(FUZZ_FLAGS) -Iruntime -I$(BUILD)/fuzz/load $< $(BUILD)/fuzz/load/m.c $(RUNTIME_SRCS) \
	    $(BLAS_LIBS) -pthread -o $@
$(BUILD)/fuzz/fuzz_data: tests/fuzz/fuzz_data.c $(RUNTIME_SRCS) runtime/*.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Iruntime $< $(RUNTIME_SRCS) $(BLAS_LIBS) -pthread -o $@

fuzz: deps
	@$(MAKE) --no-print-directory $(MNC) fuzzers
	@set -e; for f in $(FUZZERS); do \
	    mkdir -p $(BUILD)/fuzz/corpus/$$f; \
	    echo "== fuzz_$$f for $(FUZZ_SECONDS) s"; \
	    ./$(BUILD)/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -max_len=8192 \
	        -dict=tests/fuzz/$$f.dict -artifact_prefix=$(BUILD)/fuzz/crash-$$f- -print_final_stats=1 \
	        $(BUILD)/fuzz/corpus/$$f tests/fuzz/corpus/$$f >$(BUILD)/fuzz/$$f.log 2>&1 && rc=0 || rc=$$?; \
	    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done|ERROR|SUMMARY|stat::(number_of_executed_units|peak_rss)' \
	        $(BUILD)/fuzz/$$f.log || true; \
	    test $$rc -eq 0 || { echo "fuzz_$$f failed (exit $$rc): see $(BUILD)/fuzz/$$f.log"; exit 1; }; \
	done

# Every committed input once, through the sanitized harnesses (make test).
fuzz-replay: $(FUZZ_BINS)
	@set -e; for f in $(FUZZERS); do \
	    ./$(BUILD)/fuzz/fuzz_$$f -rss_limit_mb=2048 -timeout=20 $$(find tests/fuzz/corpus/$$f tests/fuzz/crashers/$$f -type f | sort) \
	        >$(BUILD)/fuzz/replay-$$f.log 2>&1 || { tail -40 $(BUILD)/fuzz/replay-$$f.log; exit 1; }; \
	    echo "fuzz_$$f: $$(find tests/fuzz/corpus/$$f tests/fuzz/crashers/$$f -type f | wc -l) inputs replayed"; \
	done

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
# The main job: a three-input model (examples/demo/cancer.mn) trained by its
# generated trainer on a real data set (Breast Cancer Wisconsin, as Debian's
# python3-sklearn ships it: examples/demo/data/), per-epoch progress, the
# accuracy on held-out samples, a few predictions.
DEMO = $(BUILD)/demo
demo: deps
	@$(MAKE) --no-print-directory $(MNC) $(BUILD)/libmnrt.a
	@mkdir -p $(DEMO)
	./$(MNC) examples/demo/cancer.mn -o $(DEMO)/cancer.c
	./$(MNC) examples/demo/cancer.mn --emit trainer -o $(DEMO)/train_cancer.c
	$(CC) $(GEN_CFLAGS) -Iruntime -I$(DEMO) $(DEMO)/cancer.c $(DEMO)/train_cancer.c $(BUILD)/libmnrt.a \
	    $(BLAS_LIBS) -o $(DEMO)/train_cancer
	sh examples/demo/prepare.sh examples/demo/data/breast_cancer.csv $(DEMO)
	@rm -f $(DEMO)/cancer.ckpt
	@echo "== train on $(DEMO)/train.csv (456 samples; the last 20% validate)"
	cd $(DEMO) && ./train_cancer train.csv --val-split 0.2 --checkpoint cancer.ckpt --save cancer.safetensors
	@echo "== the held-out samples ($(DEMO)/test.csv, 113 never seen in training)"
	cd $(DEMO) && ./train_cancer --load cancer.safetensors --eval test.csv
	@echo "== predictions for the first 5 held-out samples (y: the probability of benign; benign: the truth)"
	@head -6 $(DEMO)/test.csv > $(DEMO)/five.csv
	@cd $(DEMO) && ./train_cancer --load cancer.safetensors --predict five.csv -o five_pred.csv 2>/dev/null && \
	    paste -d, five_pred.csv five.csv | awk -F, '{ print $$1 "\t" $$NF }'

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
