"""GET /stats/*: the maintainer's statistics (admin only), JSON and a CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from typing import Any

from quart import Blueprint, Response, request

from ..auth import require_admin
from ..errors import ApiError
from ..responses import json_response
from ..stats import DaysError, export_csv_rows
from .common import guard_storage, stats

blueprint = Blueprint("stats", __name__, url_prefix="/stats")

# URL path → (service method, default window in days)
ROUTES: dict[str, tuple[str, int]] = {
    "summary": ("summary", 30),
    "overview": ("overview", 30),
    "installations": ("installations", 30),
    "deployment-modes": ("deployment_modes", 30),
    "versions": ("versions", 30),
    "geography": ("geography", 30),
    "printers": ("printers", 30),
    "features": ("features", 30),
    "errors": ("errors", 30),
    "version-migration": ("version_migration", 84),
    "feature-trends": ("feature_trends", 84),
    "anomalies": ("anomalies", 84),
}


async def _call(method: str, default_days: int) -> dict[str, Any]:
    service = stats()
    try:
        days = service.check_days(request.args.get("days"), default_days)
    except DaysError as err:
        raise ApiError(400, str(err), reason="bad_days") from None
    func: Callable[[int], Awaitable[dict[str, Any]]] = getattr(service, method)
    return await guard_storage(func(days), "stats")


def _view(method: str, default_days: int) -> Callable[[], Awaitable[Response]]:
    async def view() -> Response:
        return json_response(await _call(method, default_days))

    view.__name__ = method
    view.__doc__ = f"{method.replace('_', ' ').capitalize()} (admin; ?days=N window)."
    return require_admin(view)


for _path, (_method, _days) in ROUTES.items():
    blueprint.add_url_rule(f"/{_path}", endpoint=_method, view_func=_view(_method, _days))


@blueprint.get("/export")
@require_admin
async def export() -> Response:
    """Everything in one document: `?format=json` (default) or `?format=csv`."""
    fmt = request.args.get("format", "json").lower()
    if fmt not in {"json", "csv"}:
        raise ApiError(400, "format must be json or csv", reason="bad_format")
    data = await _call("export", 30)
    if fmt == "json":
        return json_response(data)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(["section", "key", "installations", "value"])
    out.writerows(export_csv_rows(data))
    return Response(
        buffer.getvalue(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="printernizer-usage-stats.csv"'},
    )
