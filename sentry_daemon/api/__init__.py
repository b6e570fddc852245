"""The Sentry web API under ``/api/0/``: one module of routes per resource family (SENTRY-PROTOCOL §7)."""
