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


class ErrorResponse(ApiError):
    """An error answered as ``{"error": ...}``: the shape Sentry's chunk-upload, assemble and
    artifact endpoints write themselves instead of raising DRF's ``{"detail": ...}``."""

    def body(self) -> dict:
        return {"error": self.detail}


class ProjectMoved(ApiError):
    """Sentry's answer for a project's old slug (``ProjectMoved``): ``302`` to the same path under
    the new slug, the slug in the body (which sentry-cli reads as "project renamed")."""

    def __init__(self, url: str, slug: str) -> None:
        super().__init__(302, "Resource has been moved", headers={"Location": url})
        self.url = url
        self.slug = slug

    def body(self) -> dict:
        return {"slug": self.slug, "detail": {"code": "resource-moved", "message": self.detail,
                                              "extra": {"url": self.url, "slug": self.slug}}}


def not_found(detail: str = "The requested resource does not exist") -> ApiError:
    return ApiError(404, detail)


def bad_request(detail: str) -> ApiError:
    return ApiError(400, detail)
