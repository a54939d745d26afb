# mtp evaluation harness (tools/eval/run.py): hot-set precision/recall, phase-change
# following and observation pause on workloads with known hot and cold sets.
# Included by the top Makefile. Run as root; takes ~6 minutes on 2 cores.
#   make eval                        every workload
#   make eval EVAL_ARGS='--only zipf phase/store --scale 0.5'
# Writes build/eval/results.json and build/eval/table.md.
EVAL_ARGS ?=
EVAL_DEBS := python3-numpy python3-networkx

.PHONY: eval

eval: deps
	@missing=$$(for p in $(EVAL_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "error: make eval needs: apt-get install $$missing" >&2; exit 1; fi
	$(MAKE) all PYTHON=/usr/bin/python3
	/usr/bin/python3 tools/eval/run.py --build $(BUILD) $(EVAL_ARGS)
