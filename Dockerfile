# One image for every service; docker-compose.yml picks the service by command.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /venv
COPY requirements.txt /tmp/requirements.txt
RUN /venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 10001 app
COPY --from=build /venv /venv
WORKDIR /app
COPY common/ common/
COPY config/ config/
COPY product/ product/
COPY customers/ customers/
COPY orders/ orders/
COPY inventory/ inventory/
COPY shipping/ shipping/
COPY gateway/ gateway/
USER app
CMD ["nameko", "run", "--config", "config/config.yml", "gateway.service"]
