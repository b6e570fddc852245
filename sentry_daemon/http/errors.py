"""The one exception type every layer raises to answer a client with a Sentry-shaped error."""

from __future__ import annotations


class ApiError(Exception):
    """An HTTP error answered as ``{"detail": ..., "causes": [...]}`` (``causes`` only when present)."""

    def __init__(
        self,
        status: int,
        detail: str,
        causes: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.causes = causes or []
        self.headers = headers or {}

    def body(self) -> dict:
        body: dict = {"detail": self.detail}
        if self.causes:
            body["causes"] = self.causes
        return body


def not_found(detail: str = "The requested resource does not exist") -> ApiError:
    return ApiError(404, detail)


def bad_request(detail: str) -> ApiError:
    return ApiError(400, detail)
