"""Sentry's issue search syntax: parsing a query and matching issues against it."""
