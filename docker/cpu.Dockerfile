# msm-cpu: the ingest, synthesis and report components (components/images.py: MSM_IMAGE_CPU).
#   make images            builds all three images (docker/README.md: build arguments)
# Torch is in: msm depends on it and real synthesis runs embed with sentence-transformers.
ARG BASE_IMAGE=python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

# Dependencies and the msm wheel are built in a stage of their own: the pip settings below stay in
# this stage's history, which the final image does not carry.
FROM ${BASE_IMAGE} AS build
# Package sources (pip's own variables); unset means PyPI plus PyTorch's CPU-only index, which keeps
# the CUDA libraries of PyPI's torch out of an image that never sees a GPU. Locations only: never
# put credentials in build arguments.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ARG PIP_TRUSTED_HOST
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY pyproject.toml constraints.txt /src/
COPY docker/requirements.py /src/docker/
# kfp: the component launcher runs `pip install kfp==...`, a no-op when the version is already here.
RUN python3 -m venv /opt/venv \
 && python3 /src/docker/requirements.py synth kfp matplotlib setuptools >/src/requirements.txt \
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
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
CMD ["msm", "--help"]
