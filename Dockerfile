# CPU serving image: no torch, no ultralytics; inference on ONNX Runtime.
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    FRESHPROOF_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY vision ./vision
COPY ledger ./ledger
COPY api ./api
COPY training ./training
COPY claims ./claims
COPY storage ./storage
COPY weights ./weights
RUN pip install . && useradd --system --uid 10001 freshproof && mkdir /data \
    && chown freshproof /data
USER freshproof
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["freshproof", "serve", "--host", "0.0.0.0", "--port", "8000"]
