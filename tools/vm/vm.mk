# Two-NUMA-node QEMU guest (node 1 CPU-less, lower memory tier); see tools/vm/README.md.
# Included by the top Makefile. Run as root. Extra options: make vm-check VM_ARGS='--tiering kmem'
VM_ARGS ?=
VM_OUT  ?= $(BUILD)/vm-out

.PHONY: vm-fetch vm-shell vm-check vm-test vm-eval-softdirty vm-eval vm-eval-report vm-plugin vm-access-check

# The QEMU TCG plugin that counts the guest's loads and stores per
# guest-physical page (tools/vm/access_plugin.c; no QEMU header needed).
# Never sanitized, whatever SAN says: QEMU, which loads it, is not.
VM_PLUGIN := $(BUILD)/vm/mtp_access.so
vm-plugin: $(VM_PLUGIN)
$(VM_PLUGIN): tools/vm/access_plugin.c include/mtp_access.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -Iinclude -shared -fPIC -fvisibility=hidden -o $@ $<

# The plugin counted against a probe's known writes on both nodes, and its
# slowdown (two guest boots, ~40 s).
vm-access-check: $(VM_PLUGIN)
	/usr/bin/python3 tools/vm/access_check.py --plugin $(VM_PLUGIN)

# Download the Debian cloud kernel (not installed) and build the initramfs; cached.
vm-fetch:
	tools/vm/vm.sh fetch

# Interactive shell in the guest (exit, or Ctrl-A x, to leave).
vm-shell:
	tools/vm/vm.sh shell --out $(VM_OUT) $(VM_ARGS)

# Boot, print numactl -H and the memory tiers; fails unless node 1 is a lower tier.
vm-check:
	tools/vm/vm.sh check --out $(VM_OUT) $(VM_ARGS)

# The integration tests and the migration proof inside the two-tier guest,
# using this tree's build (the guest sees it at the same path).
vm-test: all
	tools/vm/vm.sh run --out $(VM_OUT) $(VM_ARGS) -- 'tools/vm/guest-tests.sh $(BUILD) $(VM_OUT)'

# A subset of make eval inside the guest, also scored against the pages its
# kernel saw written (soft-dirty; this host's kernel has none), ~7 min under TCG.
# Results in $(VM_OUT)/eval-softdirty/.  Options: VM_EVAL_ARGS='--scale 0.5'
VM_EVAL_ARGS ?=
vm-eval-softdirty:
	$(MAKE) all PYTHON=/usr/bin/python3
	tools/vm/vm.sh run --out $(VM_OUT) $(VM_ARGS) -- 'tools/vm/guest-eval-softdirty.sh $(BUILD) $(VM_OUT) $(VM_EVAL_ARGS)'

# The MTP paper's workloads (networkx, SQLAlchemy) under six tiering
# configurations -- first touch, the kernel's NUMA-balancing tiering, DAMON,
# mtp, mtp --eager, mtp with first-page footprints -- with the fast node
# limited to 25/50/75% of each footprint; placement measured by soft-dirty.
# Prints one table per workload, rewrites its section of BENCHMARKS.md and
# draws docs/vm-eval.{svg,png}.  Several hours under TCG at the defaults;
# options for tools/vm/vm_eval.py: VM_EVAL_OPTS='--workloads bfs --shares 0.5'
VM_EVAL_OPTS ?=
# Extra results.json files whose runs replace the same runs (report only).
VM_EVAL_MERGE ?=
VM_EVAL_BENCH ?= BENCHMARKS.md
VM_EVAL_PLOT ?= docs/vm-eval
# Every access counted by the TCG plugin (tools/vm/access_host.py serves the
# guest's window boundaries), for the access-weighted and oracle shares;
# VM_EVAL_ACCESS=0 runs without it (soft-dirty only, the guest ~2x faster).
VM_EVAL_ACCESS ?= 1
VM_EVAL_ACCESS_DIR = $(VM_OUT)/vm-eval/access
VM_EVAL_COMMIT := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
# A run that went wrong (its error is in results.json) fails the target, but
# only after the others are scored: 70 runs are not thrown away for one.
vm-eval: deps $(if $(filter 1,$(VM_EVAL_ACCESS)),$(VM_PLUGIN))
	$(MAKE) all PYTHON=/usr/bin/python3
	rm -rf $(VM_EVAL_ACCESS_DIR)
	status=0; \
	$(if $(filter 1,$(VM_EVAL_ACCESS)),/usr/bin/python3 tools/vm/access_host.py --plugin $(VM_PLUGIN) --dir $(VM_EVAL_ACCESS_DIR) --) \
	    tools/vm/vm.sh run --timeout 43200 --out $(VM_OUT) $(VM_ARGS) -- 'tools/vm/guest-eval.sh $(BUILD) $(VM_OUT) --commit $(VM_EVAL_COMMIT) $(if $(filter 1,$(VM_EVAL_ACCESS)),--access $(VM_EVAL_ACCESS_DIR)) $(VM_EVAL_OPTS)' || status=$$?; \
	test -s $(VM_OUT)/vm-eval/results.json || exit 1; \
	mkdir -p $(dir $(VM_EVAL_PLOT)) && \
	/usr/bin/python3 tools/vm/vm_eval_report.py $(VM_OUT)/vm-eval/results.json \
	    $(foreach m,$(VM_EVAL_MERGE),--merge $(m)) --save-runs $(VM_OUT)/vm-eval/runs.json \
	    --benchmarks $(VM_EVAL_BENCH) --plot $(VM_EVAL_PLOT) \
	    --command "make vm-eval$(if $(VM_EVAL_OPTS), VM_EVAL_OPTS='$(VM_EVAL_OPTS)')" || exit 1; \
	echo "vm-eval: runs scored in $(VM_OUT)/vm-eval/runs.json; keep it to merge with later parts (make vm-eval-report)"; \
	if [ $$status -ne 0 ]; then echo "vm-eval: the guest run failed (exit $$status): see the runs' errors above" >&2; fi; \
	exit $$status

# The tables and plot again from runs saved by earlier make vm-eval's
# (runs.json: scored, without their windows), with no guest run: a matrix
# measured in parts.  Later files' runs replace earlier ones of the same cell.
# VM_EVAL_BENCH= (empty) prints the tables without rewriting BENCHMARKS.md.
# VM_EVAL_POOL=1: runs of the same cell in several parts are pooled, not
# replaced (parts that measured the same code: more repeats per cell).
VM_EVAL_RUNS ?= $(sort $(wildcard docs/vm-eval-runs/*.json))
vm-eval-report:
	@test -n "$(VM_EVAL_RUNS)" || { echo "vm-eval-report: no runs: set VM_EVAL_RUNS='A.json B.json'"; exit 2; }
	mkdir -p $(dir $(VM_EVAL_PLOT))
	/usr/bin/python3 tools/vm/vm_eval_report.py $(firstword $(VM_EVAL_RUNS)) \
	    $(foreach m,$(wordlist 2,$(words $(VM_EVAL_RUNS)),$(VM_EVAL_RUNS)),--merge $(m)) \
	    $(if $(VM_EVAL_BENCH),--benchmarks $(VM_EVAL_BENCH)) $(if $(VM_EVAL_POOL),--pool) \
	    --plot $(VM_EVAL_PLOT) \
	    --command "make vm-eval, in parts"
