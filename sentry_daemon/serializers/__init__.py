"""Every Sentry JSON shape the daemon answers with, one module per resource (SENTRY-PROTOCOL §7.4).

Ids are strings, dates ISO-8601 with ``Z``, and field names are Sentry's own camelCase.
``base_url`` is the externally visible root (``http://127.0.0.1:4773``), used for DSNs and links.
"""
