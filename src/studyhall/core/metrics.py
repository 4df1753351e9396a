"""Prometheus metrics; multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("studyhall_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "studyhall_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LLM_TOKENS = Counter("studyhall_llm_tokens_total", "LLM tokens", ["kind", "provider"])
JOBS = Gauge(
    "studyhall_jobs",
    "Jobs by state (sampled at scrape)",
    ["status"],
    multiprocess_mode="mostrecent",
)
RATE_LIMIT_FALLBACKS = Counter(
    "studyhall_rate_limit_fallbacks_total",
    "Rate-limit decisions taken in process memory because Redis did not answer",
)
JOB_RUNS = Counter("studyhall_job_runs_total", "Job executions", ["kind", "outcome"])


def render_metrics() -> tuple[bytes, str]:
    """The exposition text; aggregates every process in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
