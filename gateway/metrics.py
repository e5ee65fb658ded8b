"""Prometheus metrics: one registry per app so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("provgate_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.request_seconds = Histogram(
            "provgate_http_request_seconds", "HTTP request latency", ["route"], buckets=STAGE_BUCKETS, registry=r
        )
        self.stage_seconds = Histogram(
            "provgate_stage_seconds", "Pipeline stage latency", ["stage"], buckets=STAGE_BUCKETS, registry=r
        )
        self.decisions = Counter(
            "provgate_decisions", "Decisions by stage and outcome", ["stage", "outcome"], registry=r
        )
        self.queue_depth = Gauge("provgate_queue_depth", "Generations by non-final status", ["status"], registry=r)
        self.outbox_pending = Gauge("provgate_outbox_pending", "Events not yet relayed", registry=r)
        self.outbox_lag = Gauge("provgate_outbox_lag_seconds", "Age of the oldest unrelayed event", registry=r)
        self.events_published = Counter("provgate_events_published", "Events relayed to Kafka", registry=r)
        self.jobs = Counter("provgate_jobs", "Jobs finished by final status", ["status"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
