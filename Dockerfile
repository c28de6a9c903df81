# One image for every part of a deployment (docs/deploy.md):
#   the API         forecaster serve --host 0.0.0.0 --port 8000   (the default command)
#   Ray head/worker KubeRay starts `ray start ...` in it
#   batch jobs      forecaster batch scenarios.yaml --out DIR --executor ray
#
# Build from the repository root:   docker build -t nqpf-forecaster:0.1.0 .
#
# Base: python:3.11-slim rather than rayproject/ray. Ray's images are several GB (conda,
# many extras); here Ray is one pip install, pinned to exactly the version the Helm chart
# declares, with the same Python minor version as development. Ray Client (the API's link
# to the cluster) requires the same Ray and Python on both ends: one image guarantees it.

# Python minor version of the image (pyproject.toml: requires-python >= 3.11).
ARG PYTHON_VERSION=3.11
# Ray version; must equal ray.version in helm/forecaster/values.yaml (tests/test_helm.py).
ARG RAY_VERSION=2.60.0

# ---- build: install Ray and the package into a virtual environment ----------------------
FROM python:${PYTHON_VERSION}-slim-trixie AS build
ARG RAY_VERSION
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Ray first, in its own layer: the largest dependency, and the one that changes least.
RUN pip install "ray[default]==${RAY_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY forecaster ./forecaster
COPY api ./api
COPY cluster ./cluster
# The constraint stops the resolver from moving Ray off the pinned version; the last line
# fails the build if it did anyway.
RUN echo "ray==${RAY_VERSION}" > /tmp/constraints.txt \
 && pip install --constraint /tmp/constraints.txt ".[s3]" \
 && python -c "import ray; assert ray.__version__ == '${RAY_VERSION}', ray.__version__"

# ---- runtime: the virtual environment on a clean base, as an unprivileged user -----------
FROM python:${PYTHON_VERSION}-slim-trixie AS runtime
ARG RAY_VERSION
LABEL org.opencontainers.image.title="nqpf-forecaster" \
      org.opencontainers.image.description="NQPF Monte-Carlo forecaster: API, Ray node and batch jobs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.ray.version="${RAY_VERSION}"
# wget: KubeRay's health probes of Ray containers call it. Debian's versions are not pinned:
# the base image tag fixes the release, and security updates should come through.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends wget \
 && rm -rf /var/lib/apt/lists/*
# A fixed numeric uid/gid, so Kubernetes can check runAsNonRoot; the chart runs as 1000.
RUN groupadd --gid 1000 forecaster \
 && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash forecaster
COPY --from=build /opt/venv /opt/venv
# Login shells (KubeRay's operator option ENABLE_LOGIN_SHELL) reset PATH from /etc/profile;
# this puts the virtual environment back ($PATH is meant to expand at login, not here).
# hadolint ignore=SC2016
RUN echo 'export PATH=/opt/venv/bin:$PATH' > /etc/profile.d/forecaster-venv.sh
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FORECASTER_DATA_DIR=/data \
    MPLCONFIGDIR=/tmp/matplotlib
USER 1000:1000
WORKDIR /home/forecaster
EXPOSE 8000
CMD ["forecaster", "serve", "--host", "0.0.0.0", "--port", "8000"]
