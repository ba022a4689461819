"""Adapters to optional outside systems the services do not depend on (the Redis read cache)."""
