"""The system of record for privacy requests (issue 4): models, lifecycle, REST API, outbox."""
