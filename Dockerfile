# StudyHall api/worker image: one image, the command picks the role.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends tesseract-ocr \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
RUN pip install .
RUN useradd --system --home /data studyhall && mkdir -p /data && chown studyhall /data
USER studyhall
ENV STUDYHALL_DATA_DIR=/data
EXPOSE 8000
CMD ["studyhall", "serve", "--host", "0.0.0.0", "--port", "8000"]
