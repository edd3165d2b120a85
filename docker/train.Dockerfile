# msm-train: base model, midtraining and AFT on DeepSpeed (components/images.py: MSM_IMAGE_TRAIN).
#   make images            builds all three images (docker/README.md: build arguments)
# The default base has CUDA's compiler, which DeepSpeed needs to JIT-compile its ops on GPUs;
# PyPI's torch wheel brings its own CUDA runtime. Builds for CPU pass a Python 3.11 base instead;
# training compiles no C++ op on CPU (msm.training.extensions turns DeepSpeed's shm allreduce off).
ARG BASE_IMAGE=pytorch/pytorch:2.11.0-cuda13.0-cudnn9-devel@sha256:6e8a7a6dedf900096f90190f66f988e7e658cda4f1e6cbc7c17e3a38980a4f89

# Dependencies and the msm wheel are built in a stage of their own: the pip settings below stay in
# this stage's history, which the final image does not carry.
FROM ${BASE_IMAGE} AS build
# Package sources (pip's own variables); unset means PyPI. Locations only: never put credentials
# in build arguments.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ARG PIP_TRUSTED_HOST
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY pyproject.toml constraints.txt /src/
COPY docker/requirements.py /src/docker/
# kfp: the component launcher runs `pip install kfp==...`, a no-op when the version is already here.
RUN python3 -m venv /opt/venv \
 && python3 /src/docker/requirements.py train kfp setuptools >/src/requirements.txt \
 && /opt/venv/bin/pip install --quiet -c /src/constraints.txt -r /src/requirements.txt
COPY README.md /src/
COPY msm /src/msm
COPY components /src/components
COPY pipelines /src/pipelines
RUN /opt/venv/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /wheels /src

FROM ${BASE_IMAGE}
RUN useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin msm
# Dependencies first (one large layer that changes with the lock), msm on top (small, changes often).
COPY --from=build /opt/venv /opt/venv
COPY --from=build /wheels /tmp/wheels
RUN /opt/venv/bin/pip install --quiet --no-deps --no-index --no-cache-dir /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 HOME=/home/msm
WORKDIR /home/msm
# Recipes name DeepSpeed configs relative to the repository root (training.deepspeed); the tasks
# run in WORKDIR, so the configs sit at the same relative path here.
COPY recipes/deepspeed/*.json /home/msm/recipes/deepspeed/
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
CMD ["msm", "train", "--help"]
