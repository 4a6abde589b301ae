"""Dashboard routes: login/logout, the page, its chart data, CSV downloads, reports, community."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from datetime import UTC, datetime
from typing import Any

from quart import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import reports
from ..auth import THROTTLE, is_admin_request, key_matches, login_throttle, require_admin
from ..blueprints.common import client_address, guard_storage, repository, settings, stats
from ..errors import ApiError
from ..storage import analytics as analytics_store
from . import charts, ingress, session
from .community import build_community
from .throttle import LoginLimits, LoginThrottle

blueprint = Blueprint(
    "dashboard",
    __name__,
    static_folder="static",
    static_url_path="/dashboard/static",
    template_folder="templates",
)

# No third-party origins at all: scripts, styles and data all come from this server.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Home Assistant shows an ingress panel in a frame of its own page (the same origin).
CSP_INGRESS = CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")


@blueprint.record_once
def _on_register(state: Any) -> None:
    session.configure_cookie(state.app)
    if "SETTINGS" in state.app.config:
        ingress.install(state.app, state.app.config["SETTINGS"])
    if THROTTLE not in state.app.config:
        conf = state.app.config.get("SETTINGS")
        limits = LoginLimits.from_settings(conf) if conf is not None else None
        state.app.config[THROTTLE] = LoginThrottle(state.app.secret_key or "", limits)


@blueprint.before_app_request
async def _authenticate_session() -> WerkzeugResponse | None:
    """Every request: a live session grants admin rights; writes with it need the CSRF token."""
    if request.endpoint == "dashboard.static":
        return None
    if ingress.active():
        if request.path == "/":  # the panel's root (without ingress_entry) is the dashboard
            return redirect(url_for("dashboard.index"))
        if request.blueprint == "dashboard":
            await ingress.sign_in()  # Home Assistant signed this user in
        return None
    if not session.carries_session() or not settings().admin_enabled:
        return None  # nothing to look up: most requests (clients, health, metrics) end here
    await guard_storage(session.authenticate(repository()), "dashboard")
    return None


@blueprint.after_app_request
async def _security_headers(response: Response) -> Response:
    if request.path.startswith(("/dashboard", "/community")):
        framed = ingress.active()
        response.headers.setdefault("Content-Security-Policy", CSP_INGRESS if framed else CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN" if framed else "DENY")
        if not request.path.startswith("/dashboard/static"):
            response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/dashboard/login")
async def login() -> Any:
    """The sign-in form (already signed in: straight to the dashboard)."""
    if await is_admin_request():
        return redirect(url_for("dashboard.index"))
    return await render_template("login.html", csrf_token=session.csrf_token(), error=None)


@blueprint.post("/dashboard/login")
async def login_submit() -> Any:
    """Check the API key from the form and open an admin session."""
    form = await request.form
    if not session.csrf_valid(form.get("csrf_token")):
        html = await render_template(
            "login.html",
            csrf_token=session.csrf_token(),
            error="The form expired or cookies are blocked. Please try again.",
        )
        return html, 400
    if not settings().api_key:
        html = await render_template(
            "login.html",
            csrf_token=session.csrf_token(),
            error="No API_KEY is configured on this server, so nobody can sign in.",
        )
        return html, 403
    throttled = await guard_storage(
        login_throttle().attempt(repository(), client_address(), time.time()), "dashboard"
    )
    if throttled is not None:
        html = await render_template(
            "login.html", csrf_token=session.csrf_token(), error=throttled.message
        )
        return html, 429, {"Retry-After": str(throttled.retry_after)}
    if not key_matches(form.get("api_key", ""), settings().api_key):
        await asyncio.sleep(session.FAILED_LOGIN_DELAY_S)
        html = await render_template(
            "login.html", csrf_token=session.csrf_token(), error="That key is not right."
        )
        return html, 401
    await guard_storage(session.log_in(repository()), "dashboard")
    return redirect(url_for("dashboard.index"))


@blueprint.post("/dashboard/logout")
async def logout() -> WerkzeugResponse:
    """End the admin session everywhere (a live session's CSRF token was checked before)."""
    await guard_storage(session.log_out(repository()), "dashboard")
    return redirect(url_for("dashboard.login"))


@blueprint.get("/dashboard")
async def index() -> Any:
    """The dashboard page (sign-in form without a session); charts load from data.json."""
    if not await is_admin_request():
        return redirect(url_for("dashboard.login"))
    today = datetime.now(UTC).date()
    return await render_template(
        "dashboard.html",
        csrf_token=session.csrf_token(),
        k=settings().k_anonymity,
        via_ingress=ingress.active(),
        periods=reports.recent_periods(today),
        email=await _email_status(),
    )


@blueprint.get("/dashboard/data.json")
@require_admin
async def data() -> dict[str, Any]:
    """Every chart, KPI and anomaly of the page as one JSON document."""
    return (
        await guard_storage(charts.build_dashboard(stats(), repository()), "dashboard")
    ).as_json()


@blueprint.get("/dashboard/csv/<chart>")
@blueprint.get("/dashboard/csv/<chart>.csv")
@require_admin
async def csv(chart: str) -> Response:
    """One chart's numbers as CSV."""
    if chart not in charts.CHART_IDS:
        abort(404, description=f"unknown chart '{chart}'; known: {', '.join(charts.CHART_IDS)}")
    dashboard = await guard_storage(charts.build_dashboard(stats(), repository()), "dashboard")
    return _download(dashboard.csv(chart), f"{chart}.csv", "text/csv; charset=utf-8")


@blueprint.get("/dashboard/csv.zip")
@require_admin
async def export_all() -> Response:
    """Every chart's CSV in one zip file."""
    dashboard = await guard_storage(charts.build_dashboard(stats(), repository()), "dashboard")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for chart_id in charts.CHART_IDS:
            archive.writestr(f"{chart_id}.csv", dashboard.csv(chart_id))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    return _download(buffer.getvalue(), f"printernizer-usage-{stamp}.zip", "application/zip")


def _period(kind: str | None, label: str | None) -> reports.ReportPeriod:
    """The period a report request names (default: the latest complete one), or a 400."""
    today = datetime.now(UTC).date()
    label = (label or "").strip()
    if kind is None:  # /dashboard/reports?period=...: the label says which kind it is
        kind = "weekly" if "-W" in label else "monthly"
    try:
        if not label:
            return reports.last_complete_period(kind, today)  # type: ignore[arg-type]
        period = reports.parse_period(kind, label)
        reports.check_past(period, today, settings().retention_days)
    except reports.PeriodError as err:
        raise ApiError(400, str(err), reason="period") from None
    return period


async def _report_response(period: reports.ReportPeriod, fmt: str) -> Response:
    built = await guard_storage(
        reports.build_report(stats(), period, datetime.now(UTC)), "dashboard"
    )
    if fmt == "json":
        body, content_type = reports.to_json(built), "application/json; charset=utf-8"
    else:
        body, content_type = reports.render_markdown(built), "text/markdown; charset=utf-8"
    response = Response(body, content_type=content_type)
    response.headers["Content-Disposition"] = f'inline; filename="{period.stem}.{fmt}"'
    return response


@blueprint.get("/dashboard/reports/<kind>.<fmt>")
@require_admin
async def report(kind: str, fmt: str) -> Response:
    """The report of one ISO week or calendar month (?period=2026-W48 or 2026-11; default the
    latest complete one), as Markdown or JSON."""
    if kind not in reports.KINDS or fmt not in {"md", "json"}:
        abort(404, description="reports are weekly|monthly and .md|.json")
    return await _report_response(_period(kind, request.args.get("period")), fmt)


@blueprint.get("/dashboard/reports")
@require_admin
async def report_for_period() -> Response:
    """The dashboard's report form: any past week (2026-W48) or month (2026-11)."""
    fmt = request.args.get("format", "md")
    if fmt not in {"md", "json"}:
        raise ApiError(400, "format must be md or json", reason="format")
    label = request.args.get("period", "")
    if not label.strip():
        raise ApiError(400, "name a period: a week like 2026-W48 or a month like 2026-11")
    return await _report_response(_period(None, label), fmt)


async def _email_status() -> dict[str, Any]:
    conf = settings()
    last = await guard_storage(analytics_store.last_delivery(repository(), "email"), "dashboard")
    return {
        "configured": reports.email_configured(conf),
        "smtp_host": conf.smtp_host or None,
        "smtp_port": conf.smtp_port,
        "sender": conf.smtp_from or None,
        "recipients": reports.recipients(conf),
        "schedule": conf.report_schedule,
        "last_delivery": None
        if last is None
        else {
            "attempted_at": datetime.fromtimestamp(last.attempted_at, UTC).isoformat(),
            "success": last.ok,
            "subject": last.subject,
            "detail": last.detail,
        },
    }


@blueprint.get("/dashboard/reports/email-status")
@require_admin
async def email_status() -> dict[str, Any]:
    """Whether report e-mail is set up, to whom, and how the last delivery went."""
    return await _email_status()


@blueprint.post("/dashboard/reports/test-email")
@require_admin
async def test_email() -> Any:
    """Send a test message with the report settings; JSON for scripts, a redirect for the form.

    A session's CSRF token was checked before this runs (session.authenticate).
    """
    conf = settings()
    if not reports.email_configured(conf):
        raise ApiError(
            400,
            "e-mail is not configured: set SMTP_HOST, SMTP_FROM and REPORT_EMAIL_TO",
            reason="email",
        )
    delivery = await reports.deliver_email(
        repository(), conf, reports.sample_email(conf, datetime.now(UTC))
    )
    if request.mimetype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        return redirect(url_for("dashboard.index") + "#reports", 303)
    return {
        "success": delivery.ok,
        "message": "Test e-mail sent" if delivery.ok else "Test e-mail not delivered",
        "error": None if delivery.ok else delivery.detail,
        "recipients": reports.recipients(conf),
    }


@blueprint.get("/community")
async def community() -> Any:
    """The optional public page: only k-suppressed figures, no login (404 unless enabled)."""
    conf = settings()
    if not conf.public_page:
        abort(404)
    page = await guard_storage(build_community(stats(), conf.k_anonymity), "dashboard")
    return await render_template("community.html", k=conf.k_anonymity, **page)


def _download(body: str | bytes, filename: str, content_type: str) -> Response:
    response = Response(body, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
