# The ShopMe worker image:  docker build -t shopme-worker .
# Runs `python agent.py start` as a non-root user. Configuration and secrets come from the
# environment at run time (Kubernetes: deploy/kubernetes/); none is baked into the image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE=0

# livekit-agents imports sounddevice, which needs the PortAudio library even without audio devices.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libportaudio2 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
# requirements.lock pins every runtime dependency of pyproject.toml (`make lock`).
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock && pip check

COPY agent.py pyproject.toml ./
COPY support_tools ./support_tools
COPY prompts ./prompts

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin shopme
USER 10001

# 8081: health (readiness and liveness probes); 9100: Prometheus /metrics (SHOPME_METRICS_PORT).
ENV SHOPME_HEALTH_PORT=8081 \
    SHOPME_METRICS_PORT=9100
EXPOSE 8081 9100

# SIGTERM drains: no new calls, active calls finish (SHOPME_DRAIN_TIMEOUT_S), then exit 0.
STOPSIGNAL SIGTERM
CMD ["python", "agent.py", "start"]
