# mtp -- memory tiering for Python programs.
#
#   make            build the loader, BPF objects and the extension for $(PYTHON)
#   make demo       install dependencies, build, run the built-in demo (root)
#   make test       install dependencies, build, run every test (root)
#   make SAN=1 ...  the same with ASan+UBSan
#   make bench      benchmarks (not tests), ~25 min; BENCH_ARGS=--quick for a smoke run
#   make vm-test    the tests and the migration proof inside the two-tier guest
#   make vm-access-check  the guest's per-page access counter against known writes
#   make fuzz       libFuzzer over the parsers of untrusted input, FUZZ_SECONDS each
#   make install    mtp-trace, its man page, the extension, the systemd unit (PREFIX, DESTDIR)

PYTHON   ?= python3
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
BUILD    ?= build

CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -Iinclude -I$(BUILD) -Iuser/lib -I/usr/include/json-c
ifeq ($(SAN),1)
CFLAGS_COMMON += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS_SAN   := -fsanitize=address,undefined
BUILD         := build-san
endif
CFLAGS  ?=
CFLAGS  += $(CFLAGS_COMMON)
LDLIBS_USER := -lbpf -lelf -lz -lnuma -ljson-c -linih -lncurses

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
# usdt.bpf.h pulls in <linux/errno.h>, whose <asm/...> lives in the multiarch dir.
BPF_SYS_INC := -idirafter /usr/include/$(shell $(CC) -dumpmachine)

# Pure logic: no I/O, unit-tested directly with CMocka.
PURE_SRCS := $(wildcard user/lib/*.c)
PURE_OBJS := $(patsubst user/lib/%.c,$(BUILD)/lib/%.o,$(PURE_SRCS))
# The loader's own I/O code and main.
TRACE_SRCS := $(wildcard user/*.c)
TRACE_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(TRACE_SRCS))

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

HEADERS := $(wildcard include/*.h user/*.h user/lib/*.h)

# libFuzzer harnesses over the parsers of untrusted input (tests/fuzz/), with
# ASan+UBSan; built with clang, whatever CC is.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude -Iuser/lib \
	-I/usr/include/json-c

.PHONY: all deps demo test unit integration integration-san man install pyext pyext-dir clean format format-check bench bench-ab fuzz
.SECONDARY:
all: $(BUILD)/mtp-trace pyext

deps:
	@tools/install-deps.sh

$(BUILD)/vmlinux.h:
	@mkdir -p $(@D)
	@test -r /sys/kernel/btf/vmlinux || { echo "error: /sys/kernel/btf/vmlinux missing: mtp needs a kernel built with CONFIG_DEBUG_INFO_BTF=y" >&2; exit 1; }
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h include/mtp_abi.h include/mtp_probes.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(BPF_SYS_INC) -Iinclude -I$(BUILD) -Wall -Werror -c $< -o $@.tmp
	llvm-strip -g $@.tmp 2>/dev/null || true
	mv $@.tmp $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/lib/%.o: user/lib/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/user/%.o: user/%.c $(HEADERS) $(BPF_SKELS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iuser/lib -I/usr/include/json-c -c $< -o $@

$(BUILD)/mtp-trace: $(TRACE_OBJS) $(PURE_OBJS)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS_USER)

# The written-page scan is tested against the real kernel, with its sources
# (the maps rule it shares with the loader among them).
WPSCAN_SRCS := pyext/mtp_wpscan.c user/lib/mapping.c
# Tests that sort use the loader's comparators (user/lib/cmp.c).
$(BUILD)/tests/test_wpscan: tests/unit/test_wpscan.c $(WPSCAN_SRCS) pyext/mtp_wpscan.h user/lib/mapping.h user/lib/cmp.c user/lib/cmp.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ipyext -o $@ tests/unit/test_wpscan.c $(WPSCAN_SRCS) user/lib/cmp.c $(LDFLAGS_SAN) -lcmocka

# The budget's parser, pure.
$(BUILD)/tests/test_budget: tests/unit/test_budget.c pyext/mtp_budget.c pyext/mtp_budget.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ipyext -o $@ tests/unit/test_budget.c pyext/mtp_budget.c $(LDFLAGS_SAN) -lcmocka

# The side table likewise, against a naive model.
$(BUILD)/tests/test_sidetable: tests/unit/test_sidetable.c pyext/mtp_sidetable.c pyext/mtp_sidetable.h pyext/mtp_snapshot.h pyext/mtp_ownmem.c pyext/mtp_ownmem.h $(WPSCAN_SRCS) user/lib/cmp.c user/lib/cmp.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ipyext -o $@ tests/unit/test_sidetable.c pyext/mtp_sidetable.c pyext/mtp_ownmem.c $(WPSCAN_SRCS) user/lib/cmp.c $(LDFLAGS_SAN) -lcmocka -pthread

$(BUILD)/tests/%: tests/unit/%.c $(PURE_OBJS) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I/usr/include/json-c -Iuser -Iuser/lib -Ipyext -o $@ $< $(PURE_OBJS) $(LDFLAGS_SAN) -lcmocka -ljson-c -linih

# The extension is built with the interpreter's own sysconfig, so setuptools
# is not needed (pyenv's 3.12/3.13 have none).
# One build directory per interpreter: Debian's 3.11 and pyenv's 3.11 share an
# EXT_SUFFIX but not their headers.
PY_TAG := $(shell $(PYTHON) -c 'import sys, zlib; print("%d.%d-%08x" % (sys.version_info[:2] + (zlib.crc32(sys.prefix.encode()),)))' 2>/dev/null)
PY_INC := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)
PY_EXT := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
PYEXT_DIR := $(BUILD)/py$(PY_TAG)
PYEXT_SO  := $(PYEXT_DIR)/mtp$(PY_EXT)

pyext: $(PYEXT_SO)

# For scripts: where `make pyext PYTHON=...` puts the extension.
pyext-dir:
	@echo $(PYEXT_DIR)

# The extension's sources, listed once in pyext/SOURCES (mtp_build.py reads it
# too), relative to pyext/: some are shared with the loader (../user/lib/).
PYEXT_SRCS := $(addprefix pyext/,$(filter %.c,$(shell grep -v '^[[:space:]]*\#' pyext/SOURCES)))
$(PYEXT_SO): $(PYEXT_SRCS) $(wildcard pyext/*.h $(PYEXT_SRCS:.c=.h)) pyext/SOURCES include/mtp_abi.h include/mtp_probes.h include/mtp_settings.h
	@test -n "$(PY_TAG)" || { echo "error: cannot run '$(PYTHON)'; pass make PYTHON=/path/to/python3" >&2; exit 1; }
	@test -r "$(PY_INC)/Python.h" || { echo "error: no Python.h in $(PY_INC); install the interpreter's headers (apt-get install python3-dev)" >&2; exit 1; }
	@mkdir -p $(@D)
	$(CC) $(filter-out -std=c11,$(CFLAGS)) -std=gnu11 -fPIC -shared -fvisibility=hidden -Ipyext -I$(PY_INC) -o $@ $(filter %.c,$^) $(LDFLAGS_SAN)

# The probe contract (include/mtp_probes.h), against the built extension's
# .note.stapsdt and the built BPF object.
$(BUILD)/tests/test_contract: tests/unit/test_contract.c include/mtp_probes.h include/mtp_abi.h $(PYEXT_SO) $(BUILD)/mtp_trace.bpf.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DMTP_CONTRACT_EXT='"$(PYEXT_SO)"' -DMTP_CONTRACT_BPF='"$(BUILD)/mtp_trace.bpf.o"' -o $@ $< $(LDFLAGS_SAN) -lcmocka -lbpf -lelf

unit: $(UNIT_BINS)
	@tools/run-unit.sh $(UNIT_BINS)

integration: $(BUILD)/mtp-trace
	$(PYTHON_TEST) tests/integration/run.py --build $(BUILD)

# The integration tests that drive mtp's own code, against the ASan+UBSan
# build of the loader and the extension (run.py's SAN_TESTS).
integration-san:
	@$(MAKE) -s --no-print-directory SAN=1 all PYTHON=/usr/bin/python3
	$(PYTHON_TEST) tests/integration/run.py --build build-san --san --only debian

PYTHON_TEST ?= /usr/bin/python3

test: deps
	$(MAKE) all PYTHON=/usr/bin/python3
	tools/run-tests.sh

demo: deps
	$(MAKE) all PYTHON=/usr/bin/python3
	tools/demo.sh $(BUILD)

# Quiet, so that stdout is the benchmark's markdown alone (progress goes to stderr).
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_input.h $(PURE_SRCS) $(HEADERS)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $< $(PURE_SRCS) -ljson-c -linih -lm

# Each harness for FUZZ_SECONDS from its seed corpus; prints runs and coverage.
fuzz: $(FUZZ_BINS)
	@tools/fuzz/run.sh $(BUILD)/fuzz-runs $(FUZZ_SECONDS) $(FUZZ_BINS)

# The man page: its OPTIONS from the option table, as --help's are.
$(BUILD)/tools/options_roff: tools/man/options_roff.c $(PURE_OBJS) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(PURE_OBJS) $(LDFLAGS_SAN) -ljson-c -linih -lm
$(BUILD)/mtp-trace.8: man/mtp-trace.8.in $(BUILD)/tools/options_roff
	$(BUILD)/tools/options_roff > $@.options
	awk -v f=$@.options '/^@OPTIONS@$$/ { while ((getline l < f) > 0) print l; next } { print }' $< > $@.tmp
	rm -f $@.options && mv $@.tmp $@
man: $(BUILD)/mtp-trace.8

# make install [PREFIX=/usr/local] [DESTDIR=...]: mtp-trace (its BPF object
# is built in), the man page, the extension for the system Python ($(PYTHON))
# and the systemd unit template.
PREFIX ?= /usr/local
PY_LIBDIR = $(shell $(PYTHON) -c "import sys, sysconfig; v = '%d.%d' % sys.version_info[:2]; deb = any(p.endswith('dist-packages') for p in sys.path); print('$(PREFIX)/lib/python%s/dist-packages' % v if deb else sysconfig.get_path('platlib', 'posix_prefix', vars={'base': '$(PREFIX)', 'platbase': '$(PREFIX)'}))")
install: all $(BUILD)/mtp-trace.8
	install -D -m 0755 $(BUILD)/mtp-trace $(DESTDIR)$(PREFIX)/sbin/mtp-trace
	install -D -m 0755 tools/report/mtp-report $(DESTDIR)$(PREFIX)/bin/mtp-report
	install -D -m 0644 $(BUILD)/mtp-trace.8 $(DESTDIR)$(PREFIX)/share/man/man8/mtp-trace.8
	install -D -m 0644 $(PYEXT_SO) $(DESTDIR)$(PY_LIBDIR)/$(notdir $(PYEXT_SO))
	@mkdir -p $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' tools/systemd/mtp-trace@.service.in > $(DESTDIR)$(PREFIX)/lib/systemd/system/mtp-trace@.service
	install -D -m 0644 tools/systemd/example.ini $(DESTDIR)$(PREFIX)/share/doc/mtp/example.ini

bench: deps
	@$(MAKE) -s --no-print-directory all PYTHON=/usr/bin/python3 >&2
	@/usr/bin/python3 tools/bench/run.py --build $(BUILD) $(BENCH_ARGS)

# A change to a hot path against a commit before it: BENCH_BASE (default
# HEAD~1) is built in a worktree under /tmp, this tree in $(BUILD), and the
# suite's workloads run traced by each, interleaved (tools/bench/ab.py).
BENCH_BASE ?= HEAD~1
BENCH_AB_ARGS ?=
bench-ab: deps
	@$(MAKE) -s --no-print-directory all PYTHON=/usr/bin/python3 >&2
	@base=/tmp/mtp-bench-base-$$(git rev-parse --short $(BENCH_BASE)) && \
	  { test -d $$base || git worktree add -q --detach $$base $(BENCH_BASE); } && \
	  $(MAKE) -s --no-print-directory -C $$base all PYTHON=/usr/bin/python3 BUILD=build >&2 && \
	  /usr/bin/python3 tools/bench/ab.py --a $$base/build --b $(BUILD) $(BENCH_AB_ARGS)

FORMAT_FILES := $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf build build-san

-include tools/vm/vm.mk
-include tools/eval/eval.mk
