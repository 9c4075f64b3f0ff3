# Lekhamudra API and worker image: `docker build -t lekhamudra .`
# ENV=prod does not migrate at start: run `lekhamudra db upgrade` against the shared DATABASE_URL
# first (docker-compose.yml's `migrate` service does), and keep /data on a volume.
# Multi-stage: dependencies are resolved with uv from uv.lock; the runtime image has only the
# virtual environment and the app (with its shipped Tesseract nep + eng data), and runs as a non-root user.

FROM python:3.11.11-slim-bookworm AS build
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project
COPY . .
RUN uv sync --locked --no-dev

FROM python:3.11.11-slim-bookworm
RUN useradd --create-home --uid 10001 lekhamudra \
    && mkdir /data && chown lekhamudra /data
WORKDIR /app
COPY --from=build --chown=lekhamudra /app /app
ENV PATH="/app/.venv/bin:$PATH" DATA_DIR=/data ENV=prod
USER lekhamudra
EXPOSE 8000
CMD ["lekhamudra", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
