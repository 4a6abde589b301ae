"""Login throttle: sign-in attempts per client network and for all clients, in the shared DB.

One throttle guards every way to try the admin key: the dashboard's sign-in form counts each
attempt, and a wrong key in an `Authorization: Bearer` or `X-API-Key` header (aggregation/auth.py)
counts as one; while a bucket is full, both are refused, the right key too.

The counters live in the database every server process uses, so WORKERS=2 allows no more
attempts than one process. A client's address is used only for the moment of the request: the
counter's key is an HMAC of (time window, client network) under a key derived from SECRET_KEY,
so a database dump shows no address, and one client's keys differ from one window to the next.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
from dataclasses import dataclass
from typing import Literal

from ..settings import Settings
from ..storage.base import Repository
from ..storage.signin import Bucket, full_bucket, purge_expired, reserve_attempt

_LOGGER = logging.getLogger(__name__)
ALL_CLIENTS = "*"
# An IPv6 client usually holds a whole /64: counting single addresses would not slow it down.
IPV6_PREFIX = 64
# How the key was tried: the dashboard's form, or an Authorization / X-API-Key header.
type Via = Literal["form", "header"]


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Sign-in attempts allowed per fixed window, per client network and for everyone."""

    window_seconds: int = 15 * 60
    per_client: int = 10
    all_clients: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        """The limits ADMIN_ATTEMPTS_PER_CLIENT, ADMIN_ATTEMPTS_TOTAL and _WINDOW_SECONDS set."""
        return cls(
            window_seconds=settings.admin_attempts_window_seconds,
            per_client=settings.admin_attempts_per_client,
            all_clients=settings.admin_attempts_total,
        )


@dataclass(frozen=True, slots=True)
class Throttled:
    """A refused attempt: which limit was reached and when to try again."""

    scope: Literal["client", "all_clients"]
    retry_after: int

    @property
    def message(self) -> str:
        """What the refused client reads (the form and the JSON error say the same)."""
        minutes = max(1, math.ceil(self.retry_after / 60))
        who = "from your network" if self.scope == "client" else "on this server"
        plural = "s" if minutes != 1 else ""
        return f"Too many sign-in attempts {who}. Try again in {minutes} minute{plural}."


def client_network(address: str | None) -> str:
    """The unit one client controls: its IPv4 address, or its IPv6 /64 network."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


class LoginThrottle:
    """Counts sign-in attempts in the shared database and refuses them past the limits."""

    def __init__(self, secret_key: str, limits: LoginLimits | None = None) -> None:
        self.limits = limits or LoginLimits()
        # A key of its own, derived from SECRET_KEY: the session signing key is never reused.
        self._key = hmac.new(
            secret_key.encode(), b"printernizer-aggregation/login-throttle", hashlib.sha256
        ).digest()

    def window_start(self, now: float) -> int:
        """Start of the fixed window `now` falls in (seconds since the epoch)."""
        size = self.limits.window_seconds
        return int(now // size) * size

    def client_key(self, address: str | None, window_start: int) -> str:
        """The counter key of a client in one window (never reversible to the address)."""
        message = f"{window_start}|{client_network(address)}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    async def attempt(
        self, repository: Repository, address: str | None, now: float, *, via: Via = "form"
    ) -> Throttled | None:
        """Count one attempt; a Throttled answer (and a log line without the address) if refused."""
        start = self.window_start(now)
        buckets = self._buckets(address, start)
        full = await reserve_attempt(repository, buckets, window_start=start)
        return None if full is None else self._refuse(full, start, now, via)

    async def check(
        self, repository: Repository, address: str | None, now: float, *, via: Via
    ) -> Throttled | None:
        """Whether attempts are refused now, without counting one (one read, no write)."""
        start = self.window_start(now)
        full = await full_bucket(repository, self._buckets(address, start), window_start=start)
        return None if full is None else self._refuse(full, start, now, via)

    def _buckets(self, address: str | None, start: int) -> list[Bucket]:
        return [
            Bucket(self.client_key(address, start), self.limits.per_client),
            Bucket(ALL_CLIENTS, self.limits.all_clients),
        ]

    def _refuse(self, full: Bucket, start: int, now: float, via: Via) -> Throttled:
        refused = Throttled(
            scope="all_clients" if full.key == ALL_CLIENTS else "client",
            retry_after=max(1, math.ceil(start + self.limits.window_seconds - now)),
        )
        _LOGGER.warning(
            "admin sign-in throttled (%s limit, %s)",
            refused.scope,
            via,
            extra={
                "fields": {
                    "event": "login_throttled",
                    "scope": refused.scope,
                    "via": via,
                    "retry_after": refused.retry_after,
                }
            },
        )
        return refused

    async def purge(self, repository: Repository, now: float) -> None:
        """Drop counters of past windows and expired sessions."""
        await purge_expired(repository, now=int(now), window_start=self.window_start(now))
