# One image for every service; docker-compose.yml picks the service by its
# command (`nameko run --config config/config.yml <module>`).
# Runtime requirements only (requirements.txt): no test tools, no
# development database.

# Both stages share one pinned base, so the venv built in the first runs
# against the very same interpreter in the second.
FROM python:3.11.14-slim-bookworm AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Build stage: install the pinned requirements into a venv; pip, its cache
# and the requirements file stay behind.
FROM base AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /venv
COPY requirements.txt /tmp/requirements.txt
RUN /venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# Runtime stage: the venv, the code and a non-root user, nothing else.
FROM base
ENV PATH=/venv/bin:$PATH
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home \
       --home-dir /app --shell /usr/sbin/nologin app
COPY --from=build /venv /venv
WORKDIR /app
# Code and config stay owned by root: the services cannot modify them.
COPY config/ config/
COPY common/ common/
COPY product/ product/
COPY customers/ customers/
COPY orders/ orders/
COPY inventory/ inventory/
COPY shipping/ shipping/
COPY gateway/ gateway/
USER 10001:10001
# The gateway's HTTP port (WEB_SERVER_ADDRESS); the other services only talk AMQP.
EXPOSE 8000
CMD ["nameko", "run", "--config", "config/config.yml", "gateway.service"]
