"""sentryfake: a local Sentry that real Sentry clients cannot tell from the real thing."""

__version__ = "0.1.0"
