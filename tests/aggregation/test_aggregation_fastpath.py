"""POST /submit's raw ASGI route: same answers as the Quart route, and its own edge cases."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from agg_payloads import payload
from hypothesis import given, settings
from hypothesis import strategies as st
from quart import Quart

from aggregation.app import create_app
from aggregation.errors import ApiError
from aggregation.fastpath import SubmitRoute
from aggregation.intake import Intake
from aggregation.settings import Settings
from aggregation.validation import decode_body, privacy_check, string_tokens, unescape

Message = dict[str, Any]


async def _call(
    app: Quart,
    body: bytes,
    *,
    chunks: int = 1,
    headers: list[tuple[bytes, bytes]] | None = None,
    path: str = "/submit",
    root_path: str = "",
    disconnect: bool = False,
) -> tuple[int | None, dict[bytes, bytes], bytes]:
    """Call the ASGI app the way hypercorn does; (status, headers, body) of the answer."""
    size = max(1, len(body) // chunks)
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages: list[Message] = [
        {"type": "http.request", "body": part, "more_body": n < len(parts) - 1}
        for n, part in enumerate(parts)
    ]
    if disconnect:
        messages = [{"type": "http.disconnect"}]
    sent: list[Message] = []
    answered = asyncio.Event()

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await answered.wait()  # as a server does: the client hangs up after its answer
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    await app.asgi_app(scope, receive, send)  # type: ignore[arg-type]
    if not sent:
        return None, {}, b""
    start, body_message = sent[0], sent[1]
    return start["status"], dict(start["headers"]), body_message["body"]


def test_the_submit_route_is_served_in_front_of_quart(app: Quart) -> None:
    assert isinstance(app.asgi_app, SubmitRoute)


@pytest.mark.parametrize("through", ["fast path", "quart route"])
async def test_both_paths_answer_alike(
    make_settings: Callable[..., Settings], through: str
) -> None:
    app = create_app(make_settings(max_body_bytes=4096, submit_key="shipped-key"))
    if through == "quart route":
        app.asgi_app = app.asgi_app.inner  # type: ignore[attr-defined, method-assign]
    key = {"X-Submit-Key": "shipped-key"}
    async with app.test_app():
        client = app.test_client()
        body = payload()
        first = await client.post("/submit", json=body, headers=key)
        assert first.status_code == 201
        assert (await first.get_json())["status"] == "accepted"
        again = await client.post("/submit", json=body, headers=key)
        assert again.status_code == 200
        assert await again.get_json() == {
            "status": "duplicate",
            "submission_id": (await first.get_json())["submission_id"],
        }
        assert (await client.post("/submit", json=body)).status_code == 401
        as_json = {**key, "Content-Type": "application/json; charset=UTF-8"}
        broken = await client.post("/submit", data=b"{", headers=as_json)
        assert broken.status_code == 400
        as_form = await client.post("/submit", form={"a": "b"}, headers=key)
        assert as_form.status_code == 415
        assert "application/json" in (await as_form.get_json())["error"]
        bad = dict(body, installation={**body["installation"], "platform": "me@example.org"})
        refused = await client.post("/submit", json=bad, headers=key)
        assert refused.status_code == 422
        assert (await refused.get_json())["kind"] == "email"
        big = await client.post("/submit", data=b"x" * 5000, headers=as_json)
        assert big.status_code == 413
        assert (await big.get_json())["error"] == "body too large: at most 4096 bytes"
        assert big.headers["Content-Type"] == "application/json"
        assert big.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_chunked_body_over_the_limit_is_413(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(max_body_bytes=2048))
    async with app.test_app():
        status, headers, body = await _call(app, b"x" * 6000, chunks=6)
        assert status == 413
        assert json.loads(body)["error"] == "body too large: at most 2048 bytes"
        assert headers[b"content-length"] == str(len(body)).encode()
        # The same body in chunks but within the limit is stored.
        status, _, _ = await _call(app, json.dumps(payload()).encode(), chunks=4)
        assert status == 201


async def test_a_client_gone_before_its_body_gets_nothing(app: Quart) -> None:
    status, _, _ = await _call(app, b"", disconnect=True)
    assert status is None
    text = app.config["METRICS"].render().decode()
    assert 'aggregation_requests_total{method="POST",route="/submit",status="499"} 1.0' in text
    assert app.config["METRICS"].in_flight._value.get() == 0


async def test_root_path_and_other_methods(app: Quart) -> None:
    body = json.dumps(payload()).encode()
    status, _, _ = await _call(app, body, path="/aggregation/submit", root_path="/aggregation")
    assert status == 201
    # Anything else is Quart's: an unknown route is a JSON 404.
    status, _, answer = await _call(app, body, path="/submit/")
    assert status == 404
    assert "error" in json.loads(answer)


async def test_an_unexpected_error_is_a_500_without_details(
    app: Quart, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(*args: object) -> None:
        raise RuntimeError("secret-value-from-the-request")

    monkeypatch.setattr(Intake, "handle", explode)
    with caplog.at_level(logging.ERROR, logger="aggregation"):
        status, _, body = await _call(app, json.dumps(payload()).encode())
    assert status == 500
    assert json.loads(body) == {"error": "internal error"}
    assert "RuntimeError" in caplog.text
    assert "secret-value" not in caplog.text


async def test_cors_and_retry_after_on_the_fast_path(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(
        make_settings(allowed_origins=("https://printernizer.example",), rate_limit_per_hour=1)
    )
    origin = [(b"origin", b"https://printernizer.example")]
    async with app.test_app():
        body = payload()
        status, headers, _ = await _call(app, json.dumps(body).encode(), headers=origin)
        assert status == 201
        assert headers[b"access-control-allow-origin"] == b"https://printernizer.example"
        assert headers[b"vary"] == b"Origin"
        # A retry is answered as the duplicate it is, though the limit of one is used up.
        status, _, _ = await _call(app, json.dumps(body).encode())
        assert status == 200
        # The next period of this installation within the hour is over its limit.
        iid = uuid.UUID(body["installation"]["installation_id"])
        later = payload(installation_id=iid, weeks_ago=1)
        status, headers, _ = await _call(app, json.dumps(later).encode())
        assert status == 429
        assert int(headers[b"retry-after"]) >= 1
        assert b"access-control-allow-origin" not in headers


# --- the raw-body privacy scan ---------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (key, *_strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(st.text(max_size=8), _json, max_size=5), ascii_only=st.booleans())
def test_string_tokens_are_every_key_and_string_value(
    value: dict[str, Any], ascii_only: bool
) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert [unescape(token) for token in string_tokens(raw)] == _strings(json.loads(raw))


@pytest.mark.parametrize(
    "body",
    [
        b'{"feature_usage": {"me\\u0040example.org": true}}',
        b'{"a": "quote \\" then C:\\\\Users\\\\bob"}',
        b'{"a": ["fine", {"b": "10.0.0.7"}]}',
        # A uuid is exempt only where the schema puts one: elsewhere it could be a serial.
        b'{"error_summary": {"6f1c1b7e-8a9f-4e3b-9c2d-1a2b3c4d5e6f": 1}}',
    ],
)
def test_personal_data_is_found_anywhere_in_the_raw_body(body: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        privacy_check(body, decode_body(body))
    assert refused.value.reason == "privacy"


def test_fixed_format_values_are_exempt_at_their_place() -> None:
    body = json.dumps(payload()).encode()
    privacy_check(body, decode_body(body))  # ids and times where the schema puts them


def test_a_fixed_format_value_repeated_elsewhere_is_scanned() -> None:
    report = payload()
    # The report's own id, once more where no id belongs: only its schema place is exempt.
    report["error_summary"] = {report["submission_id"]: 1}
    body = json.dumps(report).encode()
    with pytest.raises(ApiError) as refused:
        privacy_check(body, decode_body(body))
    assert refused.value.reason == "privacy"
