"""DELETE /installation/{id}: with the admin key or that installation's own deletion secret."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from quart import Blueprint, Response, request

from ..auth import check_admin, presented_key
from ..errors import ApiError
from ..responses import json_response
from .common import check_address_limit, guard_storage, metrics, repository

blueprint = Blueprint("installations", __name__)


def _parse_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(400, "not an installation id (expected a UUID)", reason="bad_id") from None


@blueprint.delete("/installation/<installation_id>")
async def delete_installation(installation_id: str) -> Response:
    """Delete every row of one installation (GDPR erasure).

    Authorised by the admin key (Bearer / X-API-Key / dashboard session) or by the header
    `X-Deletion-Secret` whose sha256 matches the hash the installation sent on submission.
    """
    check_address_limit()
    iid = _parse_id(installation_id)
    secret = request.headers.get("X-Deletion-Secret")
    deleted = await guard_storage(_authorised_delete(iid, secret), "delete")
    metrics().rows_deleted.labels("request").inc(deleted)
    return json_response({"status": "deleted", "installation_id": iid, "rows_deleted": deleted})


async def _authorised_delete(iid: str, secret: str | None) -> int:
    """Check the caller's right to delete `iid`, then delete; returns rows deleted."""
    repo = repository()
    if secret is None or presented_key() is not None:
        await check_admin()  # raises 401/429/503 unless the admin asks
        known, _ = await repo.deletion_key_hash(iid)
    else:
        known, stored = await repo.deletion_key_hash(iid)
        if known:
            given = hashlib.sha256(secret.strip().encode()).hexdigest()
            # Constant time; an installation that never sent a hash cannot be deleted
            # with a secret (only by the admin).
            if stored is None or not hmac.compare_digest(given, stored):
                raise ApiError(
                    403,
                    "deletion secret does not match this installation",
                    reason="wrong_secret",
                )
    if not known:
        raise ApiError(404, "no data stored for this installation", reason="unknown")
    return await repo.delete_installation(iid)
