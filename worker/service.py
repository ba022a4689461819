"""The supervised loop of every worker loop: it lives in app/supervised.py, because the API
runs one too (the alerts watcher, issue 12); re-exported here for the worker's modules."""

from app.supervised import (
    EXPECTED_ERRORS,
    Health,
    Service,
    ServiceConfig,
    database_clock,
)

__all__ = ["EXPECTED_ERRORS", "Health", "Service", "ServiceConfig", "database_clock"]
