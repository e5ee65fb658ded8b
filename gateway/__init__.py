"""The gateway: app factory, routes, auth, pipeline, worker, outbox relay and CLI."""

__version__ = "0.1.0"
