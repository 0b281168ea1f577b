# CPU serving image for the API (`freshproof serve`) and the worker (`freshproof worker`).
# No torch, no ultralytics: `pip install .` without the train extra, inference on OpenVINO.
# compose.yaml runs it; docs/production.md documents every setting.

# The build stage installs into a virtual environment that the runtime stage copies whole,
# so the source tree, pip's build files and the wheel cache stay out of the image.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vision ./vision
COPY ledger ./ledger
COPY supplychain ./supplychain
COPY api ./api
COPY training ./training
COPY cases ./cases
COPY operations ./operations
COPY claims ./claims
COPY stations ./stations
COPY storage ./storage
COPY dossier ./dossier
COPY notifications ./notifications
COPY serving ./serving
# The serving install only; the build fails if torch or ultralytics came in with it anyway.
RUN pip install . \
    && python -c "import importlib.util as u, sys; \
bad = [m for m in ('torch', 'ultralytics') if u.find_spec(m)]; \
sys.exit(f'serving image must not contain {bad}' if bad else 0)"

FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    FRESHPROOF_DATA_DIR=/data FRESHPROOF_WEIGHTS_DIR=/app/weights
# A fixed uid/gid, so volumes and a Kubernetes runAsUser/fsGroup can name it; /data (database
# file, evidence, generated keys, admin.key, anchor.json) is the only place it writes.
RUN groupadd --system --gid 10001 freshproof \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin freshproof \
    && mkdir -p /data && chown 10001:10001 /data && chmod 0750 /data
COPY --from=build /opt/venv /opt/venv
# The installed packages resolve weights/ beside themselves (site-packages), so the shipped
# ONNX models and manifest live here and FRESHPROOF_WEIGHTS_DIR points at them. Owned by
# root: the serving user can read the models it hash-checks, never replace them.
COPY weights /app/weights
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
# /healthz is public and answers "degraded" when the model cannot be resolved: unhealthy too.
# The worker serves no HTTP; compose.yaml gives it a health check of its own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import json, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4); sys.exit(json.load(r).get('status') != 'ok')"]
CMD ["freshproof", "serve", "--host", "0.0.0.0", "--port", "8000"]
