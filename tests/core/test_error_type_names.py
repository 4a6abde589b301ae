"""Error-type names that carry a MAC address or a serial number inside CamelCase are refused.

The serial detectors want a word boundary after an identifier; in `A4C1386B2F9DError` the `E`
of `Error` follows at once, so the name passed the guard and was stored and sent. Every front
folds such a name into OtherError (client) or refuses it (wire model, hence the server).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from printernizer_usage_core.detectors import name_identifier_kind, pii_kind
from printernizer_usage_core.models import parse_submission
from printernizer_usage_core.privacy import error_type_name, sanitize_event
from printernizer_usage_core.registry import OTHER_ERROR, is_error_type_name
from pydantic import ValidationError

from .test_models import current_payload
from .test_privacy_linear import LENGTH, _best_ms

# The auditor's three names.
AUDIT = ["A4C1386B2F9DError", "Mac001A2B3C4D5EError", "Sn0A1B2C3D4E5Error"]

HIDDEN = [
    *AUDIT,
    # MAC addresses, separators squeezed out, either case, with `Mac` in front or not.
    "a4c1386b2f9dError",
    "A4c1386b2f9dError",
    "Mac001a2b3c4d5eError",
    "MacAabbccddeeffError",
    "AabbccddeeffException",
    "Mac001A2B3C4D5EWarning",
    "Sn0a1b2c3d4e5Error",
    # Embedded between words, or followed by a lower-case word.
    "PrinterA4C1386B2F9DConnectionError",
    "Dev001A2B3C4D5EnotFoundError",
    "BambuMac001A2B3C4D5ETimeout",
    # Bambu (01S00A123456789) and Prusa (CZPX1234X004XC12345) serials, whole and cut short.
    "Bambu01S00A123456789Error",
    "Serial01S00C123456789Exception",
    "CZPX1234X004XC12345Error",
    "PrusaCZPX1234X004XCError",
    "CZPX1234X004Failure",
    # Short mixed serials: capitals and digits, or one CamelCase word.
    "SNAB12CD34EFError",
    "SnAB12CD34Exception",
    "PrinterSNAB12CD34EFTimeout",
    "CzpxAB12CD34Error",
    "Ab12cd34efError",
    "SerialX7k2m9p4Error",
    "ABCDEFG1Error",
    "AB12CD34Error",
]

# Real exception classes: Python's, aiohttp's, paho's (MQTT), h2's, the libraries Printernizer
# reaches Bambu, Prusa and OctoPrint with, and the names the repository's tests use.
LEGITIMATE = [
    "ConnectionResetError",
    "ConnectionRefusedError",
    "OSError",
    "JSONDecodeError",
    "TimeoutError",
    "ClientConnectorError",
    "ClientConnectorCertificateError",
    "ServerDisconnectedError",
    "ClientResponseError",
    "WSServerHandshakeError",
    "SSLError",
    "SSLCertVerificationError",
    "UnicodeDecodeError",
    "HTTPError",
    "HTTP404Error",
    "WebSocketError",
    "MQTTError",
    "MqttError",
    "MQTTConnectionError",
    "MQTTDisconnectError",
    "FTPError",
    "X509Error",
    "X509CertificateError",
    "X509StoreContextError",
    "IPv4AddressValueError",
    "IPv4AddressError",
    "IPv6AddressError",
    "UTF8DecodeError",
    "Win32Error",
    "H2ProtocolAssumedError",
    "RFC1122Error",
    "ISO8601Error",
    "PEP440Warning",
    "SIGUSR1Exception",
    "OAuth2Error",
    "HttpLib2Error",
    "Base20DeprecationWarning",
    "Go2RTCServerStartError",
    "Socks5AuthError",
    "MD5UnavailableError",
    "InvalidS3UsEast1RegionalEndpointConfigError",
    "CancelledError",
    "KeyboardInterrupt",
    "SystemExit",
    "ConnectTimeout",
    "StopIteration",
    "OtherError",
    "FilamentRunoutError",
    "NozzleClogError",
]


def test_the_audited_identifiers_are_serials_on_their_own() -> None:
    assert pii_kind("A4C1386B2F9D") == "serial"
    assert pii_kind("001A2B3C4D5E") == "serial"


@pytest.mark.parametrize("name", HIDDEN)
def test_names_hiding_an_identifier_are_not_error_names(name: str) -> None:
    assert not is_error_type_name(name)


@pytest.mark.parametrize("name", HIDDEN)
def test_names_hiding_an_identifier_are_folded_by_the_client(name: str) -> None:
    for key in ("error_type", "error", "exception"):
        assert sanitize_event("error_occurred", {key: name}) == (
            "error_occurred",
            {"error_type": OTHER_ERROR},
        )
    assert sanitize_event("job_failed", {"error_type": f"{name}: the printer went away"}) == (
        "job_failed",
        {"error_type": OTHER_ERROR},
    )
    exception = type(name, (Exception,), {})()
    assert sanitize_event("error_occurred", {"exception": exception}) == (
        "error_occurred",
        {"error_type": OTHER_ERROR},
    )


@pytest.mark.parametrize("name", HIDDEN)
def test_names_hiding_an_identifier_are_refused_by_the_wire_model(name: str) -> None:
    payload = current_payload()
    payload["error_summary"] = {name: 1}
    with pytest.raises(ValidationError, match="error_summary"):
        parse_submission(payload)


@pytest.mark.parametrize("name", LEGITIMATE)
def test_real_exception_names_still_pass(name: str) -> None:
    assert is_error_type_name(name)
    assert name_identifier_kind(name) is None
    assert error_type_name(type(name, (Exception,), {})()) == name
    assert error_type_name(f"{name}: something failed") == name


def test_real_exception_names_still_pass_the_wire_model() -> None:
    payload = current_payload()
    payload["error_summary"] = dict.fromkeys(LEGITIMATE, 1)
    assert parse_submission(payload).error_summary == payload["error_summary"]


async def test_the_audited_names_are_stored_and_sent_as_other_error(make_service) -> None:
    service = await make_service()
    service.record_event("error_occurred", {"exception": type(AUDIT[1], (Exception,), {})()})
    service.record_event("error_occurred", {"error_type": AUDIT[2]})
    service.record_event("error_occurred", {"error": f"{AUDIT[0]}: x"})
    service.record_event("error_occurred", {"error_type": "ConnectionResetError"})
    stats = await service.local_stats()
    assert stats.error_summary == {OTHER_ERROR: 3, "ConnectionResetError": 1}
    preview = await service.preview()
    assert not any(name in preview for name in AUDIT)


_HEX = "0123456789abcdefABCDEF"
_WORDS = st.sampled_from(["", "Mac", "Sn", "Printer", "Bambu", "Prusa", "Dev", "Serial"])
_SUFFIXES = st.sampled_from(["Error", "Exception", "Timeout", "ConnectionError", "Warning"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=_WORDS, mac=st.text(_HEX, min_size=12, max_size=12), suffix=_SUFFIXES)
def test_generated_mac_addresses_inside_a_name_are_refused(
    prefix: str, mac: str, suffix: str
) -> None:
    assert not is_error_type_name(prefix + mac + suffix)


_SERIAL = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=8, max_size=20).filter(
    lambda text: sum(character.isdigit() for character in text) >= 2
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=_WORDS, serial=_SERIAL, suffix=_SUFFIXES)
def test_generated_serials_inside_a_name_are_refused(prefix: str, serial: str, suffix: str) -> None:
    # Before a suffix (which begins with a capital) the serial is read whole.
    assert not is_error_type_name(prefix + serial + suffix)


@pytest.mark.parametrize("unit", ["G", "g", "Gg", "G1g", "Gh1", "1G", "GHx", "GH1x", "Ab1", "f"])
def test_the_name_rule_takes_linear_time(unit: str) -> None:
    """4x the length costs far less than 16x the time: every run is read once."""
    short = (unit * LENGTH)[:LENGTH] + "Error"
    long = (unit * 4 * LENGTH)[: 4 * LENGTH] + "Error"
    base = max(_best_ms(name_identifier_kind, short), 0.5)
    assert _best_ms(name_identifier_kind, long) / base < 10
