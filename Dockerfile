# One image for every process: api, worker, migrate (the command differs).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LOG_FORMAT=json
WORKDIR /srv
COPY pyproject.toml README.md ./
# The product only: devtools/ (make up, the embedded cluster, the demo target), tests/ and bench/
# stay out.
COPY app ./app
COPY worker ./worker
COPY db ./db
# `--build-arg EXTRAS=otel` adds what exporting traces needs (docs/operations.md, "Traces").
ARG EXTRAS=
RUN pip install --no-cache-dir ".${EXTRAS:+[${EXTRAS}]}" && useradd --system --uid 10001 scheduler
USER scheduler
EXPOSE 8000
CMD ["scheduler", "api"]
