# The runner image: the controller (`runner controller`) and the default step
# image (`python -m runner.step`). Build: docker build -t runner:0.1.0 .
# Two stages: dependencies are installed into a virtualenv in the first, and
# only that virtualenv is copied into the final image (no pip cache, no build
# tools, no sources beyond the installed package).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md* ./
COPY runner ./runner
COPY functions ./functions
# The ml extra: the demo pipeline's scikit-learn steps run on this image.
RUN pip install --upgrade pip && pip install ".[ml]" && pip uninstall -y pip

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="runner" \
      org.opencontainers.image.description="Event-driven ML pipeline runner: controller and step image"
RUN groupadd --system --gid 10001 runner \
    && useradd --system --uid 10001 --gid runner --home-dir /home/runner --create-home runner
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RUNNER_HOME=/tmp/runner
USER 10001:10001
WORKDIR /home/runner
# `python -m runner.step` (the Job command) and `runner` both come from /opt/venv.
CMD ["runner", "controller"]
