"""API errors with a status code and a message users can act on, rendered as JSON."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered as `{"error": message, ...extra}` with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}
        # Short machine label for metrics (never the value that caused it).
        self.reason = reason or str(status)

    def body(self) -> dict[str, object]:
        """The JSON body."""
        return {"error": self.message, **self.extra}
