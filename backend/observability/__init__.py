"""Observability: redacted structured logs, Prometheus metrics, health and readiness."""
