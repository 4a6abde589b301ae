"""DELETE /installation/{id}: by deletion secret or admin key; refusals."""

from __future__ import annotations

import uuid

from agg_payloads import legacy_payload, make_stats, payload
from conftest import ADMIN, ADMIN_KEY
from quart import Quart

from aggregation.app import create_app
from aggregation.rollups import today
from aggregation.validation import to_record


async def _store(app: Quart, iid: uuid.UUID, secret: str | None, weeks: int = 2) -> None:
    client = app.test_client()
    for weeks_ago in range(weeks):
        body = payload(installation_id=iid, weeks_ago=weeks_ago, secret=secret)
        assert (await client.post("/submit", json=body)).status_code == 201


async def test_delete_with_own_secret_removes_every_row(app: Quart) -> None:
    iid, other = uuid.uuid4(), uuid.uuid4()
    await _store(app, iid, "my-secret", weeks=3)
    await _store(app, other, "other-secret")
    client = app.test_client()
    before = await app.config["STATS"].summary(30)
    assert before["active_30d"] == 2
    response = await client.delete(
        f"/installation/{iid}", headers={"X-Deletion-Secret": "my-secret"}
    )
    assert response.status_code == 200
    assert await response.get_json() == {
        "status": "deleted",
        "installation_id": str(iid),
        "rows_deleted": 3,
    }
    repo = app.config["REPOSITORY"]
    assert await repo.count_submissions(str(iid)) == 0
    assert await repo.count_submissions(str(other)) == 2
    after = await app.config["STATS"].summary(30)
    assert after["active_30d"] == 1
    assert after["installations_total"] == 1
    assert after["submissions_total"] == 2
    # Gone means gone.
    again = await client.delete(f"/installation/{iid}", headers={"X-Deletion-Secret": "my-secret"})
    assert again.status_code == 404


async def test_wrong_or_other_installations_secret_is_403(app: Quart) -> None:
    iid, other = uuid.uuid4(), uuid.uuid4()
    await _store(app, iid, "mine")
    await _store(app, other, "theirs")
    client = app.test_client()
    for secret in ("wrong", "theirs", ""):
        response = await client.delete(
            f"/installation/{iid}", headers={"X-Deletion-Secret": secret}
        )
        assert response.status_code == 403, secret
    assert await app.config["REPOSITORY"].count_submissions(str(iid)) == 2


async def test_installation_without_hash_needs_the_admin(app: Quart) -> None:
    iid = uuid.uuid4()
    await _store(app, iid, None)
    client = app.test_client()
    denied = await client.delete(f"/installation/{iid}", headers={"X-Deletion-Secret": "guess"})
    assert denied.status_code == 403
    response = await client.delete(f"/installation/{iid}", headers=ADMIN)
    assert response.status_code == 200
    assert (await response.get_json())["rows_deleted"] == 2


async def test_admin_key_variants_and_refusals(app: Quart) -> None:
    iid = uuid.uuid4()
    await _store(app, iid, "s")
    client = app.test_client()
    assert (await client.delete(f"/installation/{iid}")).status_code == 401
    bad = await client.delete(f"/installation/{iid}", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"].startswith("Bearer")
    ok = await client.delete(f"/installation/{iid}", headers={"X-API-Key": ADMIN_KEY})
    assert ok.status_code == 200


async def test_unknown_and_malformed_ids(app: Quart) -> None:
    client = app.test_client()
    unknown = await client.delete(f"/installation/{uuid.uuid4()}", headers=ADMIN)
    assert unknown.status_code == 404
    by_secret = await client.delete(
        f"/installation/{uuid.uuid4()}", headers={"X-Deletion-Secret": "x"}
    )
    assert by_secret.status_code == 404
    assert (await client.delete("/installation/not-a-uuid", headers=ADMIN)).status_code == 400


async def test_admin_disabled_without_api_key(make_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(api_key=""))
    async with app.test_app():
        iid = uuid.uuid4()
        await _store(app, iid, "s", weeks=1)
        client = app.test_client()
        response = await client.delete(f"/installation/{iid}", headers=ADMIN)
        assert response.status_code == 503
        assert (await response.get_json())["error"] == "admin API disabled: set API_KEY"
        # The installation's own secret still works.
        own = await client.delete(f"/installation/{iid}", headers={"X-Deletion-Secret": "s"})
        assert own.status_code == 200


async def test_a_hash_sent_after_the_first_report_claims_nothing(app: Quart) -> None:
    """The attack of issue 16: a 1.0 installation (no hash) claimed by whoever knows its id."""
    client = app.test_client()
    iid = uuid.uuid4()
    first = await client.post("/submit", json=legacy_payload(iid, weeks_ago=1))
    assert first.status_code == 201
    # The attacker reports another period of that installation with a hash of their own: the
    # report is stored like any other, the hash is not.
    claim = payload(installation_id=iid, secret="attackers-secret")
    assert (await client.post("/submit", json=claim)).status_code == 201
    repo = app.config["REPOSITORY"]
    assert await repo.deletion_key_hash(str(iid)) == (True, None)
    denied = await client.delete(
        f"/installation/{iid}", headers={"X-Deletion-Secret": "attackers-secret"}
    )
    assert denied.status_code == 403
    assert "error" in await denied.get_json()
    assert await repo.count_submissions(str(iid)) == 2
    # The admin still can.
    erased = await client.delete(f"/installation/{iid}", headers=ADMIN)
    assert erased.status_code == 200
    assert (await erased.get_json())["rows_deleted"] == 2


async def test_a_replaced_hash_leaves_the_owner_in_charge(app: Quart) -> None:
    client = app.test_client()
    iid = uuid.uuid4()
    await _store(app, iid, "owners-secret", weeks=1)
    claim = payload(installation_id=iid, weeks_ago=1, secret="attackers-secret")
    assert (await client.post("/submit", json=claim)).status_code == 201
    denied = await client.delete(
        f"/installation/{iid}", headers={"X-Deletion-Secret": "attackers-secret"}
    )
    assert denied.status_code == 403
    assert await app.config["REPOSITORY"].count_submissions(str(iid)) == 2
    own = await client.delete(
        f"/installation/{iid}", headers={"X-Deletion-Secret": "owners-secret"}
    )
    assert own.status_code == 200
    assert (await own.get_json())["rows_deleted"] == 2


async def test_only_the_creating_report_of_a_batch_sets_the_hash(app: Quart) -> None:
    """Two reports of a new installation in one group commit: the first one creates it."""
    repo = app.config["REPOSITORY"]
    iid = uuid.uuid4()
    records = [
        to_record(make_stats(iid, weeks_ago=1), original_schema="2.0", received_day=today()),
        to_record(
            make_stats(iid, secret="attackers-secret"), original_schema="2.0", received_day=today()
        ),
    ]
    results = await repo.write_batch(records, rate_limit_per_hour=10, now_hour=1)
    assert [r.outcome for r in results] == ["accepted", "accepted"]
    assert await repo.deletion_key_hash(str(iid)) == (True, None)
