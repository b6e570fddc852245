"""The transform API (``--transform``): a ``beforeSend`` callback run over an event by a real SDK.

``sdks`` names the SDKs and finds the installed ones, ``pool`` keeps warm worker processes per SDK
(the scripts in ``workers/``, shipped as package data), ``engine`` owns the pools, ``routes``
serves ``/api/transform``. It runs the code it is sent, so it is off unless asked for.
"""
