"""The OpenAPI document as the contract: request bodies, every answer, headers and security.

quart-schema builds the paths from the routes; this provider completes what its decorators
cannot say (two accepted bodies, answers with headers, security alternatives, a response
schema per statistics route) in one place, next to the routes it describes.
"""

from __future__ import annotations

from typing import Any

from printernizer_usage_core.models import AggregatedStats, LegacyAggregatedStats
from pydantic.json_schema import models_json_schema
from quart_schema import OpenAPIProvider

from .blueprints.stats import ROUTES as STATS_ROUTES
from .intake import MAX_PENDING
from .settings import Settings
from .stats import EXPORT_SECTIONS
from .workbudget import MAX_STRING_BYTES, MAX_STRINGS

REF = "#/components/schemas/{model}"
ADMIN: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]

SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer API_KEY"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "API_KEY"},
    "submitKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Submit-Key",
        "description": "SUBMIT_KEY, when the server sets one (else /submit is open)",
    },
    "deletionSecret": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Deletion-Secret",
        "description": "The installation's own deletion secret (its sha256 was sent with "
        "the report that created the installation)",
    },
}

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "description": "Every error: a message users can act on; never the offending value.",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "field": {"type": "string", "description": "dotted path of the offending field"},
        "kind": {"type": "string", "description": "what the privacy guard recognised"},
        "problems": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "type"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"schema": {"type": "string"}}}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# What an HTTP header value can hold (RFC 9110 5.5, without obs-text); HTTP itself refuses
# anything else before the app sees it.
HEADER_VALUE = {"type": "string", "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$"}


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": HEADER_VALUE,
    }


SUBMIT_RESULT: dict[str, Any] = {
    "type": "object",
    "required": ["status", "submission_id"],
    "properties": {
        "status": {"type": "string", "enum": ["accepted", "duplicate"]},
        "submission_id": {"type": "string", "format": "uuid"},
    },
}

# Wrong admin keys count as sign-in attempts (aggregation/dashboard/throttle.py).
KEY_THROTTLED = (
    "too many sign-in attempts (wrong admin keys, or the dashboard's form) from this client's "
    "network or from all clients (ADMIN_ATTEMPTS_*): every admin key, the right one too, is "
    "refused until Retry-After"
)

ADMIN_ERRORS = {
    "401": _error("no admin credentials, or a wrong admin key", WWW_AUTHENTICATE),
    "429": _error(KEY_THROTTLED, RETRY_AFTER),
    "503": _error("admin API disabled (API_KEY unset) or storage unavailable", RETRY_AFTER),
}


def submit_operation(settings: Settings) -> dict[str, Any]:
    """POST /submit: both bodies, every answer."""
    limit = settings.max_body_bytes
    return {
        "summary": "Store one usage report (schema 2.0 or Printernizer's 1.0)",
        "description": "Idempotent: a retry of a stored (installation, period) answers 200 "
        "`duplicate` with the stored submission id, before any rate limit counts it. A "
        "`deletion_key_hash` counts only on the report that creates the installation. "
        "The schema cannot say everything: the period must span `duration_days`, printer "
        "counts must add up, the period may end at most a day after the server's clock, and "
        "nothing may look like personal data (422 otherwise).",
        "operationId": "post_submit",
        "parameters": [_header("X-Submit-Key", "the server's SUBMIT_KEY, when it sets one")],
        "security": [{}, {"submitKey": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            {"$ref": "#/components/schemas/AggregatedStats"},
                            {"$ref": "#/components/schemas/LegacyAggregatedStats"},
                        ]
                    }
                }
            },
        },
        "responses": {
            "201": _ok("stored", SUBMIT_RESULT),
            "200": _ok("a retry of a stored report (nothing changed)", SUBMIT_RESULT),
            "400": _error("not JSON (malformed, not UTF-8, too deep)"),
            "401": _error("SUBMIT_KEY is set and X-Submit-Key is missing"),
            "403": _error("wrong X-Submit-Key"),
            "408": _error(
                f"the body did not arrive within BODY_TIMEOUT_SECONDS "
                f"({settings.body_timeout_seconds}); the connection is closed"
            ),
            "413": _error(f"body over MAX_BODY_BYTES ({limit})"),
            "415": _error("Content-Type is not application/json (UTF-8)"),
            "422": _error(
                "not a report: schema, a period that ends in the future, personal data, more than "
                f"{MAX_STRINGS} strings or one over {MAX_STRING_BYTES} bytes"
            ),
            "429": _error("over the installation's or the address's limit", RETRY_AFTER),
            "503": _error(f"storage unavailable or busy (over {MAX_PENDING} queued)", RETRY_AFTER),
        },
    }


def delete_operation() -> dict[str, Any]:
    """DELETE /installation/{installation_id}."""
    return {
        "summary": "Delete every row of one installation (GDPR erasure)",
        "description": "With the admin key, or with X-Deletion-Secret matching the hash the "
        "installation sent when it was created. An installation created without a hash "
        "is deletable by the admin only.",
        "operationId": "delete_installation",
        "parameters": [
            {
                "name": "installation_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            },
            _header("X-Deletion-Secret", "the installation's own deletion secret"),
        ],
        "security": [*ADMIN, {"deletionSecret": []}],
        "responses": {
            "200": _ok(
                "deleted",
                {
                    "type": "object",
                    "required": ["status", "installation_id", "rows_deleted"],
                    "properties": {
                        "status": {"type": "string", "enum": ["deleted"]},
                        "installation_id": {"type": "string", "format": "uuid"},
                        "rows_deleted": {"type": "integer", "minimum": 0},
                    },
                },
            ),
            "400": _error("not a UUID"),
            "401": _error(
                "no credentials (neither admin key nor deletion secret), or a wrong admin key",
                WWW_AUTHENTICATE,
            ),
            "403": _error("the deletion secret does not match (or none was registered)"),
            "404": _error("no data stored for this installation"),
            "429": _error(
                f"too many requests from this address (ADDRESS_RATE_LIMIT_PER_MINUTE), or "
                f"{KEY_THROTTLED}",
                RETRY_AFTER,
            ),
            "503": _error("admin API disabled or storage unavailable", RETRY_AFTER),
        },
    }


_INT = {"type": "integer"}
_NUM = {"type": "number"}
_STR = {"type": "string"}
_ARRAY = {"type": "array"}
_OBJECT = {"type": "object"}
_GROWTH = {"type": ["number", "null"]}
_MAYBE_STR = {"type": ["string", "null"]}

# The top-level members of each /stats/* answer (besides window_days, k_anonymity, generated_at).
STATS_MEMBERS: dict[str, dict[str, dict[str, Any]]] = {
    "summary": {
        "installations_total": _INT,
        "active_7d": _INT,
        "active_30d": _INT,
        "active_window": _INT,
        "week_over_week_growth": _GROWTH,
        "submissions_total": _INT,
        "latest_version": _MAYBE_STR,
        "countries": _INT,
        "top_deployment_mode": _MAYBE_STR,
    },
    "overview": {
        "installations": _OBJECT,
        "deployment_modes": _ARRAY,
        "versions": _OBJECT,
        "geography": _ARRAY,
        "printers": _OBJECT,
        "features": _ARRAY,
        "errors": _ARRAY,
    },
    "installations": {
        "total": _INT,
        "active_7d": _INT,
        "active_30d": _INT,
        "active_window": _INT,
        "last_week": _INT,
        "previous_week": _INT,
        "week_over_week_growth": _GROWTH,
        "daily": _ARRAY,
        "weekly_active": _ARRAY,
    },
    "deployment-modes": {"installations": _INT, "modes": _ARRAY, "platforms": _ARRAY},
    "versions": {
        "installations": _INT,
        "latest": _MAYBE_STR,
        "on_latest": _INT,
        "on_latest_share": _NUM,
        "adoption": _ARRAY,
        "python": _ARRAY,
        "schema": _ARRAY,
    },
    "geography": {"installations": _INT, "countries": _ARRAY},
    "printers": {
        "installations": _INT,
        "printers": _INT,
        "per_installation": _NUM,
        "types": _ARRAY,
        "fleet_sizes": _ARRAY,
    },
    "features": {"installations": _INT, "features": _ARRAY},
    "errors": {"installations": _INT, "errors": _ARRAY},
    "version-migration": {"weeks": _ARRAY},
    "feature-trends": {"weeks": _ARRAY, "features": _ARRAY},
    "anomalies": {"anomalies": _ARRAY, "weeks_checked": _ARRAY},
    "export": dict.fromkeys(EXPORT_SECTIONS, _OBJECT),
}

_WINDOW = {
    "window_days": {"type": "integer", "minimum": 1},
    "k_anonymity": {"type": "integer", "minimum": 1},
    "generated_at": {"type": "string", "format": "date-time"},
}


def stats_schema(path: str) -> dict[str, Any]:
    """The JSON schema of one /stats/* answer."""
    members = {**_WINDOW, **STATS_MEMBERS[path]}
    return {"type": "object", "required": sorted(members), "properties": members}


def stats_operation(path: str, default_days: int, settings: Settings) -> dict[str, Any]:
    """GET /stats/<path>: the `days` window, the answer's schema, admin security."""
    parameters: list[dict[str, Any]] = [
        {
            "name": "days",
            "in": "query",
            "required": False,
            "description": f"window in days (default {default_days})",
            "schema": {"type": "integer", "minimum": 1, "maximum": settings.retention_days},
        }
    ]
    ok = _ok("statistics (groups under K_ANONYMITY installations hidden)", stats_schema(path))
    if path == "export":
        parameters.append(
            {
                "name": "format",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
            }
        )
        ok["content"]["text/csv"] = {
            "schema": {"type": "string", "description": "section,key,installations,value"}
        }
    return {
        "parameters": parameters,
        "security": ADMIN,
        "responses": {
            "200": ok,
            "400": _error("days (or format) out of range"),
            **ADMIN_ERRORS,
        },
    }


def _body_schemas() -> dict[str, Any]:
    _, schema = models_json_schema(
        [(AggregatedStats, "validation"), (LegacyAggregatedStats, "validation")],
        ref_template=REF,
    )
    defs: dict[str, Any] = schema.get("$defs", {})
    return defs


# Pages for browsers (dashboard, community page, API reference viewer): not API operations;
# docs/DASHBOARD.md describes them.
UI_BLUEPRINTS = ("dashboard.", "openapi_docs.", "static")

INDEX: dict[str, Any] = {
    "summary": "What this service is and where to look next",
    "responses": {
        "200": _ok(
            "service description",
            {
                "type": "object",
                "required": ["service", "description", "endpoints", "admin_enabled"],
                "properties": {
                    "service": _STR,
                    "description": _STR,
                    "endpoints": {"type": "object", "additionalProperties": _STR},
                    "admin_enabled": {"type": "boolean"},
                },
            },
        )
    },
}

METRICS: dict[str, Any] = {
    "summary": "Prometheus metrics (no addresses, no ids)",
    "responses": {
        "200": {
            "description": "the Prometheus text format",
            "content": {"text/plain": {"schema": _STR}},
        }
    },
}


class ContractProvider(OpenAPIProvider):
    """quart-schema's document, completed for the routes this server promises to clients."""

    def generate_rules(self) -> Any:
        """The API's routes; browser pages are left out."""
        for rule in super().generate_rules():
            if not rule.endpoint.startswith(UI_BLUEPRINTS):
                yield rule

    def schema(self) -> dict[str, Any]:
        """The whole OpenAPI document."""
        document = super().schema()
        settings: Settings = self._app.config["SETTINGS"]
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.update(_body_schemas())
        schemas["Error"] = ERROR_SCHEMA
        components["securitySchemes"] = SECURITY_SCHEMES
        paths = document["paths"]
        paths["/"]["get"].update(INDEX)
        paths["/metrics"]["get"].update(METRICS)
        paths["/submit"] = {"post": submit_operation(settings)}
        delete = paths["/installation/{installation_id}"]["delete"]
        delete.update(delete_operation())
        stats_paths = {**{p: d for p, (_, d) in STATS_ROUTES.items()}, "export": 30}
        for path, default_days in stats_paths.items():
            operation = paths[f"/stats/{path}"]["get"]
            operation.update(stats_operation(path, default_days, settings))
        return document
