# One image for every process: api, worker, migrate (the command differs).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LOG_FORMAT=json
WORKDIR /srv
COPY pyproject.toml README.md ./
COPY app ./app
COPY worker ./worker
COPY db ./db
RUN pip install --no-cache-dir . && useradd --system --uid 10001 scheduler
USER scheduler
EXPOSE 8000
CMD ["scheduler", "api"]
