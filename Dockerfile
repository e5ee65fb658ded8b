# syntax=docker/dockerfile:1.7
# provgate images. Targets: `cpu` (API, relay, CPU workers) and `gpu` (workers on NVIDIA
# GPUs; CUDA libraries come from the wheels, the driver from the NVIDIA container runtime).
#   docker build --target cpu -t ghcr.io/provgate/provgate:0.1.0-cpu .
#   docker build --target gpu -t ghcr.io/provgate/provgate:0.1.0-gpu .


FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/provgate && /opt/provgate/bin/pip install --upgrade pip
COPY pyproject.toml README.md requirements-nodeps.txt constraints.txt ./
COPY schemas ./schemas
COPY gateway ./gateway
COPY classifiers ./classifiers
COPY consent ./consent
COPY provenance ./provenance
COPY generator ./generator
RUN /opt/provgate/bin/pip install . -c constraints.txt && /opt/provgate/bin/pip install --no-deps -r requirements-nodeps.txt
# insightface depends on the GUI build of OpenCV, which needs libGL; servers use the headless one.
RUN /opt/provgate/bin/pip uninstall -y opencv-python && /opt/provgate/bin/pip install "opencv-python-headless==5.0.0.93"

FROM build AS build-gpu
RUN /opt/provgate/bin/pip install ".[gpu]"

FROM python:3.11-slim-bookworm AS runtime-base
RUN groupadd --gid 10001 provgate \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin provgate \
 && mkdir -p /var/lib/provgate /models \
 && chown 10001:10001 /var/lib/provgate
ENV PATH=/opt/provgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PROVGATE_HOST=0.0.0.0 \
    PROVGATE_DATA_DIR=/var/lib/provgate \
    PROVGATE_MODELS_DIR=/models
WORKDIR /var/lib/provgate
EXPOSE 8000

FROM runtime-base AS cpu
COPY --from=build /opt/provgate /opt/provgate
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"]
ENTRYPOINT ["provgate"]
CMD ["serve"]

FROM runtime-base AS gpu
COPY --from=build-gpu /opt/provgate /opt/provgate
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=3s CMD ["test", "-f", "/tmp/ready"]
ENTRYPOINT ["provgate"]
CMD ["worker"]
