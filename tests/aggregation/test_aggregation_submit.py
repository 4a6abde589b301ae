"""POST /submit: every status code, idempotency, schema 1.0, privacy re-check."""

from __future__ import annotations

import json
import uuid

from agg_payloads import legacy_payload, payload
from conftest import ADMIN
from quart import Quart

from aggregation.app import create_app


async def test_accepted_then_duplicate(app: Quart) -> None:
    client = app.test_client()
    body = payload()
    first = await client.post("/submit", json=body)
    assert first.status_code == 201
    data = await first.get_json()
    assert data == {"status": "accepted", "submission_id": body["submission_id"]}
    again = await client.post("/submit", json=body)
    assert again.status_code == 200
    assert await again.get_json() == {"status": "duplicate", "submission_id": body["submission_id"]}
    repo = app.config["REPOSITORY"]
    assert await repo.count_submissions() == 1


async def test_retry_with_other_id_same_period_is_duplicate(app: Quart) -> None:
    client = app.test_client()
    iid = uuid.uuid4()
    body = payload(installation_id=iid)
    assert (await client.post("/submit", json=body)).status_code == 201
    rebuilt = dict(body, submission_id=str(uuid.uuid4()))
    response = await client.post("/submit", json=rebuilt)
    assert response.status_code == 200
    # The original result, not a new row.
    assert (await response.get_json())["submission_id"] == body["submission_id"]
    assert await app.config["REPOSITORY"].count_submissions(str(iid)) == 1


async def test_next_week_is_a_new_row(app: Quart) -> None:
    client = app.test_client()
    iid = uuid.uuid4()
    assert (
        await client.post("/submit", json=payload(installation_id=iid, weeks_ago=1))
    ).status_code == 201
    assert (await client.post("/submit", json=payload(installation_id=iid))).status_code == 201
    assert await app.config["REPOSITORY"].count_submissions(str(iid)) == 2


async def test_printernizer_1_0_payload_with_naive_datetimes(app: Quart) -> None:
    client = app.test_client()
    body = legacy_payload()
    response = await client.post("/submit", json=body)
    assert response.status_code == 201, await response.get_json()
    again = await client.post("/submit", json=body)
    assert again.status_code == 200
    assert (await again.get_json())["status"] == "duplicate"
    versions = await app.config["STATS"].versions(30)
    assert versions["installations"] == 1


async def test_unknown_field_is_422_naming_it(app: Quart) -> None:
    body = payload()
    body["usage_stats"]["favourite_colour"] = 3
    response = await app.test_client().post("/submit", json=body)
    assert response.status_code == 422
    data = await response.get_json()
    # Named by its place, not by what the sender wrote (a key can be an e-mail address).
    assert data["field"] == "usage_stats.<not shown>"
    assert "Extra inputs are not permitted" in data["error"]
    assert "favourite_colour" not in json.dumps(data)


async def test_bad_value_is_422_without_echoing_it(app: Quart) -> None:
    body = payload()
    body["installation"]["country_code"] = "QQ"
    response = await app.test_client().post("/submit", json=body)
    assert response.status_code == 422
    data = await response.get_json()
    assert data["field"] == "installation.country_code"
    assert "QQ" not in json.dumps(data)
    assert all("input" not in p for p in data["problems"])


async def test_version_shaped_like_an_address_is_422(app: Quart) -> None:
    # It fits the version pattern; the raw-body privacy scan refuses it before validation
    # (and validation would too: the core's version type refuses address-shaped values).
    body = payload()
    body["installation"]["app_version"] = "10.0.0.7"
    response = await app.test_client().post("/submit", json=body)
    assert response.status_code == 422
    data = await response.get_json()
    assert data["kind"] == "ipv4"
    assert "10.0.0.7" not in json.dumps(data)


async def test_unknown_schema_version_is_422(app: Quart) -> None:
    body = payload()
    body["schema_version"] = "9.9"
    response = await app.test_client().post("/submit", json=body)
    assert response.status_code == 422
    assert (await response.get_json())["field"] == "schema_version"


async def test_malformed_json_is_400(app: Quart) -> None:
    client = app.test_client()
    for raw in (b"{not json", b"\xff\xfe", b"", b"[" * 5000):
        response = await client.post(
            "/submit", data=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, raw[:10]
        assert "malformed JSON" in (await response.get_json())["error"]


async def test_json_that_is_not_an_object_is_422(app: Quart) -> None:
    for body in ([1, 2], "text", 5, None):
        response = await app.test_client().post("/submit", json=body)
        assert response.status_code == 422


async def test_body_over_the_limit_is_413(app: Quart) -> None:
    body = payload()
    body["padding"] = "x" * 20_000
    response = await app.test_client().post("/submit", json=body)
    assert response.status_code == 413
    assert "16384" in (await response.get_json())["error"]


async def test_personal_data_is_refused(app: Quart) -> None:
    client = app.test_client()
    cases = {
        "email": ("usage_stats", "feature_usage", "bob@example.com"),
        "ipv4": ("error_summary", "192.168.1.20", 1),
        "free_text": ("error_summary", "Failed to open my file", 1),
    }
    for kind, (section, key, value) in cases.items():
        body = payload()
        if section == "usage_stats":
            body["usage_stats"]["feature_usage"] = {value: True}
        else:
            body[section] = {key: value}
        response = await client.post("/submit", json=body)
        assert response.status_code == 422
        error = (await response.get_json())["error"]
        assert error.startswith("rejected: looks like personal data"), (kind, error)
    # A uuid installation id pretending to be a path is not skipped by the scan.
    body = payload()
    body["installation"]["installation_id"] = "/home/alice/printer"
    response = await client.post("/submit", json=body)
    assert response.status_code == 422
    assert "posix_path" in (await response.get_json())["error"]
    assert await app.config["REPOSITORY"].count_submissions() == 0


async def test_installation_rate_limit_429_with_retry_after(make_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(rate_limit_per_hour=3))
    async with app.test_app():
        client = app.test_client()
        iid = uuid.uuid4()
        codes = []
        for weeks_ago in range(5):
            response = await client.post(
                "/submit", json=payload(installation_id=iid, weeks_ago=weeks_ago)
            )
            codes.append(response.status_code)
        assert codes == [201, 201, 201, 429, 429]
        assert 1 <= int(response.headers["Retry-After"]) <= 3600
        # Another installation is not affected.
        assert (await client.post("/submit", json=payload())).status_code == 201
        assert await app.config["REPOSITORY"].count_submissions(str(iid)) == 3


async def test_address_rate_limit_in_memory(make_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(address_rate_limit_per_minute=2))
    async with app.test_app():
        client = app.test_client()
        codes = [(await client.post("/submit", json=payload())).status_code for _ in range(3)]
        assert codes == [201, 201, 429]


async def test_submit_key_when_configured(make_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(submit_key="shipped-key"))
    async with app.test_app():
        client = app.test_client()
        assert (await client.post("/submit", json=payload())).status_code == 401
        wrong = await client.post("/submit", json=payload(), headers={"X-Submit-Key": "nope"})
        assert wrong.status_code == 403
        # The admin key is not a submit key.
        assert (await client.post("/submit", json=payload(), headers=ADMIN)).status_code == 401
        ok = await client.post("/submit", json=payload(), headers={"X-Submit-Key": "shipped-key"})
        assert ok.status_code == 201


async def test_storage_unavailable_is_503(app: Quart) -> None:
    await app.config["WRITER"].stop()
    response = await app.test_client().post("/submit", json=payload())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"


async def test_method_and_route_errors_are_json(app: Quart) -> None:
    client = app.test_client()
    response = await client.get("/submit")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    missing = await client.get("/nope")
    assert missing.status_code == 404
    assert "error" in await missing.get_json()


async def test_deletion_hash_is_kept_from_the_first_submission(app: Quart) -> None:
    client = app.test_client()
    iid = uuid.uuid4()
    await client.post("/submit", json=payload(installation_id=iid, weeks_ago=1, secret="first"))
    await client.post("/submit", json=payload(installation_id=iid, secret="second"))
    known, stored = await app.config["REPOSITORY"].deletion_key_hash(str(iid))
    from agg_payloads import secret_hash

    assert known and stored == secret_hash("first")


async def test_overload_is_shed_with_503(app: Quart, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from aggregation import intake as submit_module

    monkeypatch.setattr(submit_module, "MAX_PENDING", 0)
    response = await app.test_client().post("/submit", json=payload())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


async def test_only_json_is_read(app: Quart) -> None:
    """Forms, multipart, text and bodies without a type get 415; JSON with a charset is fine."""
    client = app.test_client()
    text = json.dumps(payload()).encode()
    refused = {
        "text/plain": text,
        "application/x-www-form-urlencoded": b"report=" + text,
        "multipart/form-data; boundary=x": b"--x\r\n\r\n" + text + b"\r\n--x--\r\n",
        "application/json; charset=latin-1": text,
        "application/jsonp": text,
        None: text,
    }
    for content_type, raw in refused.items():
        headers = {"Content-Type": content_type} if content_type else {}
        response = await client.post("/submit", data=raw, headers=headers)
        assert response.status_code == 415, content_type
        error = (await response.get_json())["error"]
        assert error.startswith("unsupported"), error
    assert await app.config["REPOSITORY"].count_submissions() == 0
    for content_type in ("application/json; charset=utf-8", 'Application/JSON;charset="UTF-8"'):
        body = json.dumps(payload()).encode()
        response = await client.post("/submit", data=body, headers={"Content-Type": content_type})
        assert response.status_code == 201, content_type


async def test_the_11th_identical_retry_is_a_duplicate_not_429(make_settings) -> None:  # type: ignore[no-untyped-def]
    """Retries are answered before the per-installation limit counts them (issue 16)."""
    app = create_app(make_settings(rate_limit_per_hour=10))
    async with app.test_app():
        client = app.test_client()
        iid = uuid.uuid4()
        first = payload(installation_id=iid)
        assert (await client.post("/submit", json=first)).status_code == 201
        retries = [(await client.post("/submit", json=first)).status_code for _ in range(15)]
        assert retries == [200] * 15
        # Nine more periods use the limit of ten up; their retries are still duplicates.
        for weeks_ago in range(1, 10):
            body = payload(installation_id=iid, weeks_ago=weeks_ago)
            assert (await client.post("/submit", json=body)).status_code == 201
        assert (await client.post("/submit", json=first)).status_code == 200
        later = payload(installation_id=iid, weeks_ago=10)
        assert (await client.post("/submit", json=later)).status_code == 429
        assert await app.config["REPOSITORY"].count_submissions(str(iid)) == 10


async def test_retries_do_not_use_up_the_address_limit(make_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(address_rate_limit_per_minute=2))
    async with app.test_app():
        client = app.test_client()
        first = payload()
        assert (await client.post("/submit", json=first)).status_code == 201
        retries = [(await client.post("/submit", json=first)).status_code for _ in range(5)]
        assert retries == [200] * 5
        assert (await client.post("/submit", json=payload())).status_code == 201
        over = await client.post("/submit", json=payload())
        assert over.status_code == 429
        assert int(over.headers["Retry-After"]) >= 1
        # Over the limit, a retry of a stored report is still told it is stored.
        again = await client.post("/submit", json=first)
        assert again.status_code == 200
        assert await again.get_json() == {
            "status": "duplicate",
            "submission_id": first["submission_id"],
        }
        assert await app.config["REPOSITORY"].count_submissions() == 2


async def test_times_out_of_range_are_422_not_500(app: Quart) -> None:
    client = app.test_client()
    for section, field, value in (
        ("installation", "first_seen", "9999-12-31T23:59:59-23:59"),
        ("period", "start", "0001-01-01T00:00:00+23:59"),
        ("period", "end", "0001-01-01T00:00:00+23:59"),
    ):
        body = payload()
        body[section][field] = value
        response = await client.post("/submit", json=body)
        assert response.status_code == 422, (field, value)
        assert value not in (await response.get_data(as_text=True))
    assert await app.config["REPOSITORY"].count_submissions() == 0


async def test_error_names_hiding_a_mac_or_serial_are_refused(app: Quart) -> None:
    """`A4C1386B2F9DError`: no word boundary before `Error`, yet a serial; never stored."""
    client = app.test_client()
    hidden = [
        "A4C1386B2F9DError",
        "Mac001A2B3C4D5EError",
        "Sn0A1B2C3D4E5Error",
        "Mac001a2b3c4d5eError",
        "PrinterCZPX1234X004XCConnectionError",
    ]
    for name in hidden:
        body = payload()
        body["error_summary"] = {name: 1}
        response = await client.post("/submit", json=body)
        assert response.status_code == 422, name
        error = (await response.get_json())["error"]
        assert "error_summary" in error, (name, error)
        assert name not in (await response.get_data(as_text=True))
    assert await app.config["REPOSITORY"].count_submissions() == 0
    real = {"ClientConnectorError": 2, "HTTP404Error": 1, "IPv6AddressError": 1, "MQTTError": 1}
    assert (await client.post("/submit", json=payload(errors=real))).status_code == 201
    assert await app.config["REPOSITORY"].count_submissions() == 1
