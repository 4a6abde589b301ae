"""Weekly delivery of the payload to the aggregation server: outbox, retries, opt-out deletion."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
from yarl import URL

from .models import SharingState, SubmissionStatus, day_start
from .schedule import PERIOD_DAYS, closed_periods, first_period, period_containing
from .service import SUBMISSION_STATE_KEY
from .store import OutboxEntry

if TYPE_CHECKING:
    from .service import UsageStatsService

_LOGGER = logging.getLogger(__name__)

# The aggregation server's base URL; reports are POSTed to f"{endpoint}/submit".
DEFAULT_ENDPOINT = "https://usage.printernizer.com"

EndpointReason = Literal["invalid_url", "https_required", "cannot_connect", "bad_response"]

# Settings keys (in the service's store) owned by the submitter.
OFFSET_KEY = "send_offset_seconds"
STATE_KEY = SUBMISSION_STATE_KEY

PENDING = "pending"
SENT = "sent"
FAILED = "failed"

PERIOD = timedelta(days=PERIOD_DAYS)
# Spread a fleet's sends over a whole day after each period closes.
MAX_SEND_OFFSET = 24 * 3600
# A server asking for more than a week of silence is capped: the next period is due by then.
MAX_RETRY_AFTER = 7 * 24 * 3600
_ERROR_TEXT_LIMIT = 300
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
# 408 (request timeout) and 429 (too many requests) are worth retrying; other 4xx are not.
_RETRYABLE_4XX = {408, 429}


class EndpointError(Exception):
    """The configured endpoint cannot be used; `.reason` says why (for translated messages)."""

    def __init__(self, reason: EndpointReason, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason: EndpointReason = reason


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# One label of a host name after IDNA encoding (underscores too: Docker service names).
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def _valid_host(host: str) -> bool:
    """An IP literal, or a host name whose labels are non-empty and encodable (IDNA)."""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host.strip("[]"))
        return True
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host.removesuffix(".").split(".")
    return len(ascii_host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def normalise_endpoint(url: str) -> str:
    """The endpoint's base URL without a trailing slash; raises EndpointError when unusable.

    HTTPS is required; plain HTTP is accepted only for loopback hosts (a local test server).
    """
    text = (url or "").strip()
    try:
        parsed = URL(text)
        host = parsed.host
    except (ValueError, TypeError) as err:
        raise EndpointError("invalid_url", f"'{text}' is not a valid URL") from err
    if parsed.scheme not in ("http", "https") or not host:
        raise EndpointError("invalid_url", f"'{text}' is not an http(s) URL with a host")
    if not _valid_host(host):
        raise EndpointError("invalid_url", f"'{host}' is not a valid host name")
    if parsed.user or parsed.password or parsed.query_string or parsed.fragment:
        raise EndpointError(
            "invalid_url", "the endpoint must not contain credentials, a query or a fragment"
        )
    if parsed.scheme != "https" and not _is_loopback(host):
        raise EndpointError("https_required", "the endpoint must use https:// (except localhost)")
    return str(parsed).rstrip("/")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    seconds: float
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), float(MAX_RETRY_AFTER))


def backoff_delay(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempts-1)))."""
    ceiling = min(cap, base * 2 ** min(max(attempts - 1, 0), 32))
    return rng.uniform(0.0, ceiling)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """The result of one HTTP request to the server."""

    kind: Literal["ok", "retry", "fail"]
    error: str | None = None
    retry_after: float | None = None
    status: int | None = None


SendResult = Literal["sent", "nothing_due", "failed", "waiting"]


@dataclass(frozen=True, slots=True)
class RoundReport:
    """What one delivery round did (the status says why an attempt failed)."""

    sent: int = 0
    failed: int = 0
    # Pending periods this round did not try: the server's Retry-After is still running.
    waiting: int = 0

    @property
    def result(self) -> SendResult:
        """One word for the user: a report went out, none was due, it failed, or must wait."""
        if self.failed:
            return "failed"
        if self.sent:
            return "sent"
        return "waiting" if self.waiting else "nothing_due"

    def __add__(self, other: RoundReport) -> RoundReport:
        return RoundReport(
            self.sent + other.sent, self.failed + other.failed, self.waiting + other.waiting
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class Submitter:
    """Sends closed weekly periods of one installation, never blocking the host.

    Everything runs in background tasks on the event loop; `record_event` never waits for it.
    The outbox in the service's store holds each closed period's exact payload text until the
    server acknowledges it, so restarts and outages neither lose nor duplicate a week.

    Sharing states (`status().state`, what every front shows):

    - ``off``: the user has not opted in (or opted out). `last_error` is about a deletion
      request, if one is pending or was refused.
    - ``blocked``: DO_NOT_TRACK=1 or PRINTERNIZER_USAGE_DISABLED=1 is set; nothing leaves
      the machine, whatever the choice says.
    - ``on``: opted in, and the last delivery attempt succeeded or none was due yet.
    - ``failing``: opted in, and the last attempt to deliver a due report failed — after the
      first failed attempt, whatever the cause: no connection, no answer in time, a refusal
      (4xx), a server error or a request to wait (429/503), an unusable endpoint, or a report
      that could not be built. `last_error` says why, `failing_since` (in the store) when it
      began, `failing_periods` how many whole weeks ago. Retries go on with backoff; the
      next success returns to ``on``.
    """

    def __init__(
        self,
        service: UsageStatsService,
        *,
        session: aiohttp.ClientSession | None = None,
        default_endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 30.0,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
        backoff_base: float = 60.0,
        backoff_cap: float = 6 * 3600.0,
        poll_interval: float = 3600.0,
        min_sleep: float = 1.0,
        submit_key: str | None = None,
    ) -> None:
        self._service = service
        # Optional shared key for servers that set SUBMIT_KEY (sent as X-Submit-Key).
        self._submit_key = submit_key
        self._session = session
        self._own_session: aiohttp.ClientSession | None = None
        self._default_endpoint = default_endpoint
        self._timeout = timeout
        # The service's clock, so a frozen test clock drives both periods and sending.
        self._clock: Callable[[], datetime] = clock or service._clock
        self._rng = rng or random.SystemRandom()
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._poll_interval = poll_interval
        self._min_sleep = min_sleep
        self._lock = asyncio.Lock()
        self._rounds: set[asyncio.Task[RoundReport]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._remove_listener: Callable[[], None] | None = None
        self._opting_out: asyncio.Event | None = None
        self._drawn_offset: int | None = None

    # --- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background loop; anything already due is sent right away."""
        if self._loop_task is not None:
            return
        self._remove_listener = self._service.add_listener(self._wake.set)
        self._loop_task = asyncio.create_task(self._loop(), name="printernizer_usage_submitter")

    async def stop(self) -> None:
        """Stop the loop and any delivery in flight; close the session if this object made it."""
        if self._remove_listener is not None:
            remover, self._remove_listener = self._remove_listener, None
            with contextlib.suppress(ValueError):
                remover()
        if self._loop_task is not None:
            task, self._loop_task = self._loop_task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._cancel_rounds()
        if self._own_session is not None:
            session, self._own_session = self._own_session, None
            await session.close()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._run_round(force=False)
                delay = await self._seconds_until_next()
            except Exception:
                _LOGGER.warning("usage statistics submission round failed", exc_info=True)
                delay = self._poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _seconds_until_next(self) -> float:
        """Real seconds to sleep before the next round (the loop also wakes on changes)."""
        status = await self.status()
        times = [status.next_attempt] if status.next_attempt is not None else []
        if status.state in (SharingState.ON, SharingState.FAILING):
            closes = await self._upcoming_close()
            if closes is not None:
                times.append(closes)
        if not times:
            return self._poll_interval
        seconds = (min(times) - self._now()).total_seconds()
        return min(max(seconds, self._min_sleep), self._poll_interval)

    # --- public actions ---------------------------------------------------------------------

    @property
    def submit_key(self) -> str | None:
        """The shared key sent as X-Submit-Key (None: none is sent)."""
        return self._submit_key

    @submit_key.setter
    def submit_key(self, value: str | None) -> None:
        # Changeable while running: the next request uses the new key.
        self._submit_key = value or None

    async def submit_now(self) -> SubmissionStatus:
        """Queue every closed period and deliver what is pending now (ignores the local backoff
        and the send offset, but still honours a server's Retry-After)."""
        return (await self.send_now())[1]

    async def send_now(self) -> tuple[RoundReport, SubmissionStatus]:
        """Like `submit_now`, and also what this round did: sent, nothing due, failed, waiting."""
        report = await self._run_in_task(force=True)
        return report, await self.status()

    async def run_pending(self) -> SubmissionStatus:
        """One pass of the background loop: queue what is due and deliver what is due."""
        await self._run_in_task(force=False)
        return await self.status()

    async def opt_out(self, delete_remote: bool = False) -> None:
        """Stop sending at once; with delete_remote ask the server to delete this installation.

        Any delivery in flight is cancelled and the outbox is emptied before this returns. When
        the deletion request cannot reach the server it is retried in the background; the local
        installation id and deletion secret are forgotten once the server confirmed.
        """
        done = self._opting_out = asyncio.Event()
        try:
            await self._cancel_rounds()
            async with self._lock:
                await self._service.opt_out()
                # Delivery trouble ends with sharing; a later opt-in starts clean.
                await self._update_state(
                    last_error=None, failing_since=None, refused=None, deletion_error=None
                )
                if delete_remote and await self._service.request_deletion():
                    await self._update_state(deletion_pending=True, deletion_next_attempt=0.0)
                    await self._try_deletion(force=True)
        finally:
            done.set()
            if self._opting_out is done:
                self._opting_out = None
        self._wake.set()

    async def check_endpoint(self, url: str) -> None:
        """Validate an endpoint URL and probe `{url}/health`; raises EndpointError with a reason.

        Under DO_NOT_TRACK or the kill switch only the URL is checked: nothing leaves the machine.
        """
        base = normalise_endpoint(url)
        if self._service.blocked_by_environment:
            return
        session = self._get_session()
        try:
            async with session.get(
                f"{base}/health",
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                allow_redirects=False,
            ) as resp:
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise EndpointError("cannot_connect", f"cannot connect to {base}: {err!r}") from err
        if not 200 <= status < 300:
            raise EndpointError("bad_response", f"{base}/health answered HTTP {status}")

    async def status(self) -> SubmissionStatus:
        """Delivery state for the fronts: off/on/failing/blocked, times, pending/failed periods."""
        settings = await self._service.get_settings()
        state = await self._state()
        entries = await self._service.store.outbox_entries()
        pending = [e for e in entries if e.status == PENDING]
        failed = [e for e in entries if e.status == FAILED]
        now = self._now()
        failing_since = _from_iso(state.get("failing_since"))
        failing_periods = max(int((now - failing_since) / PERIOD), 0) if failing_since else 0
        usable = self._usable(settings.endpoint)
        if settings.blocked_by_environment:
            sharing = SharingState.BLOCKED
        elif not settings.opted_in:
            sharing = SharingState.OFF
        elif failing_since or not usable:
            # From the first failed attempt on (see the class docstring), not a week later.
            sharing = SharingState.FAILING
        else:
            sharing = SharingState.ON
        next_attempt: datetime | None = None
        if sharing in (SharingState.ON, SharingState.FAILING) and usable:
            next_attempt = await self._next_attempt(pending, state, now)
        last_error = state.get("last_error") if settings.opted_in else state.get("deletion_error")
        return SubmissionStatus(
            state=sharing,
            endpoint=self.effective_endpoint(settings.endpoint),
            last_success=_from_iso(state.get("last_success")),
            last_attempt=_from_iso(state.get("last_attempt")),
            last_error=last_error,
            next_attempt=next_attempt,
            pending_periods=len(pending),
            failed_periods=len(failed),
            failing_periods=failing_periods if failing_since else 0,
        )

    # --- internals: rounds ------------------------------------------------------------------

    def effective_endpoint(self, stored: str | None) -> str:
        """Where reports go: the endpoint the user chose, else this front's default."""
        return stored or self._default_endpoint

    def _now(self) -> datetime:
        return self._clock()

    def _usable(self, endpoint: str | None) -> bool:
        try:
            normalise_endpoint(endpoint or self._default_endpoint)
        except EndpointError:
            return False
        return True

    async def _run_in_task(self, *, force: bool) -> RoundReport:
        """Run a round as its own task so opt-out can cancel it without cancelling the caller."""
        task = asyncio.create_task(self._run_round(force=force))
        self._rounds.add(task)
        task.add_done_callback(self._rounds.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise
            # Cancelled by an opt-out: report the state after it, not a half-way one.
            if self._opting_out is not None:
                await self._opting_out.wait()
            return RoundReport()

    async def _cancel_rounds(self) -> None:
        rounds = list(self._rounds)
        for task in rounds:
            task.cancel()
        if rounds:
            await asyncio.gather(*rounds, return_exceptions=True)

    async def _run_round(self, *, force: bool) -> RoundReport:
        async with self._lock:
            try:
                return await self._round(force=force)
            except Exception as err:
                # A round that cannot even build its report is a failed attempt too: the user
                # sees it in the status instead of a log line nobody reads.
                _LOGGER.exception("usage statistics submission round failed")
                with contextlib.suppress(Exception):
                    if (await self._service.get_settings()).opted_in:
                        await self._note_failure(
                            f"the report could not be prepared ({type(err).__name__}); "
                            "the log has the details"
                        )
                return RoundReport(failed=1)

    async def _note_failure(self, error: str) -> None:
        """Remember a failed delivery attempt: the state is `failing` from now on."""
        state = await self._state()
        await self._update_state(
            last_error=error, failing_since=state.get("failing_since") or _iso(self._now())
        )

    async def _round(self, *, force: bool) -> RoundReport:
        """One round under the lock: a pending deletion, then queue and deliver what is due."""
        settings = await self._service.get_settings()
        if settings.blocked_by_environment:
            return RoundReport()
        state = await self._state()
        if state.get("deletion_pending"):
            current = settings.installation_id
            if (
                settings.opted_in
                and current is not None
                and await self._service.cancel_deletion(str(current))
            ):
                _LOGGER.info("sharing switched back on: its pending deletion is dropped")
            await self._try_deletion(force=force)
        if not settings.opted_in:
            return RoundReport()
        try:
            base = normalise_endpoint(self.effective_endpoint(settings.endpoint))
        except EndpointError as err:
            await self._note_failure(f"invalid endpoint: {err}")
            return RoundReport(failed=1)
        await self._enqueue_due()
        return await self._deliver(base, force=force)

    async def _send_offset(self, *, persist: bool = True) -> timedelta:
        """This installation's random delay after a period closes (drawn once, then kept).

        Status reads pass persist=False: they show the drawn value without writing it.
        """
        store = self._service.store
        value = await store.get_setting(OFFSET_KEY)
        if not isinstance(value, int) or not 0 <= value < MAX_SEND_OFFSET:
            if self._drawn_offset is None:
                self._drawn_offset = self._rng.randrange(MAX_SEND_OFFSET)
            value = self._drawn_offset
            if persist:
                await store.set_setting(OFFSET_KEY, value)
        return timedelta(seconds=value)

    async def _enqueue_due(self) -> None:
        """Put every closed period not yet queued into the outbox, its payload frozen now.

        Queuing at the close (not at the send time) makes the preview show the very payload
        that goes out; the first report is sendable at once, later ones after the fleet offset.
        """
        anchor = await self._service.period_anchor()
        if anchor is None:
            return
        store = self._service.store
        entries = await store.outbox_entries()
        after: date | None = None
        if entries:
            after = date.fromisoformat(max(e.period_start for e in entries)) + timedelta(days=1)
        offset = await self._send_offset()
        first = first_period(anchor)
        for period in closed_periods(anchor, self._now().date(), after):
            payload = await self._service.aggregate(period)
            key = period.first_day.isoformat()
            if await store.outbox_put(
                key, period.end_day.isoformat(), str(payload.submission_id), payload.to_json()
            ):
                send_at = 0 if period == first else int((period.end + offset).timestamp())
                await store.outbox_update(key, status=PENDING, attempts=0, next_attempt_at=send_at)
                _LOGGER.debug("usage statistics for %s..%s queued", period.start, period.end)

    async def _deliver(self, base: str, *, force: bool) -> RoundReport:
        """Send pending periods oldest first; the oldest one gates the rest (keeps order)."""
        store = self._service.store
        report = RoundReport()
        for entry in await store.outbox_entries(PENDING):
            if not await self._service.is_opted_in():
                break
            now = self._now()
            state = await self._state()
            if now.timestamp() < float(state.get("retry_after_until") or 0):
                return report + RoundReport(waiting=1)
            if not force and now.timestamp() < entry.next_attempt_at:
                break
            outcome = await self._post(base, entry)
            delivered = outcome.kind == "ok"
            report += RoundReport(sent=int(delivered), failed=int(not delivered))
            if not await self._record(entry, outcome):
                break
        return report

    async def _post(self, base: str, entry: OutboxEntry) -> _Outcome:
        """POST one stored payload exactly as stored; never raises for network trouble."""
        url = f"{base}/submit"
        # Transparency: the full text, identical to the preview and to the request body.
        _LOGGER.info(
            "Sending usage statistics for %s..%s to %s: %s",
            entry.period_start,
            entry.period_end,
            url,
            entry.payload,
        )
        await self._update_state(last_attempt=_iso(self._now()))
        try:
            async with self._get_session().post(
                url,
                data=entry.payload.encode("utf-8"),
                headers=self._submit_headers(entry),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                allow_redirects=False,
            ) as resp:
                return await self._outcome(resp)
        except TimeoutError:
            return _Outcome("retry", f"no answer from {url} within {self._timeout:g} s")
        except (aiohttp.ClientError, OSError) as err:
            return _Outcome("retry", f"cannot connect to {url}: {type(err).__name__}")
        except (UnicodeError, ValueError) as err:
            # Kept queued: the report goes once the address is corrected.
            return _Outcome("retry", f"invalid server address {url}: {type(err).__name__}")

    def _submit_headers(self, entry: OutboxEntry) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Idempotency-Key": entry.submission_id}
        if self._submit_key:
            headers["X-Submit-Key"] = self._submit_key
        return headers

    async def _outcome(self, resp: aiohttp.ClientResponse) -> _Outcome:
        status = resp.status
        if 200 <= status < 300:
            return _Outcome("ok", status=status)
        detail = await self._error_text(resp)
        error = f"HTTP {status}" + (f": {detail}" if detail else "")
        if status in (429, 503):
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            return _Outcome("retry", error, retry_after=retry_after, status=status)
        if status >= 500 or status in _RETRYABLE_4XX:
            return _Outcome("retry", error, status=status)
        return _Outcome("fail", error, status=status)

    @staticmethod
    async def _error_text(resp: aiohttp.ClientResponse) -> str:
        """The start of an error body as one line (for the user's status display)."""
        try:
            raw = await resp.content.read(_ERROR_TEXT_LIMIT * 4)
        except (TimeoutError, aiohttp.ClientError, OSError):
            return ""
        text = " ".join(raw.decode("utf-8", errors="replace").split())
        return text[:_ERROR_TEXT_LIMIT]

    async def _record(self, entry: OutboxEntry, outcome: _Outcome) -> bool:
        """Store the outcome of one attempt; returns whether to go on with the next period."""
        store = self._service.store
        now = self._now()
        attempts = entry.attempts + 1
        period = f"{entry.period_start}..{entry.period_end}"
        if outcome.kind == "ok":
            await store.outbox_update(
                entry.period_start, status=SENT, attempts=attempts, sent_at=int(now.timestamp())
            )
            await store.mark_submitted(day_start(date.fromisoformat(entry.period_end)))
            await self._update_state(
                last_success=_iso(now),
                last_error=None,
                failing_since=None,
                retry_after_until=None,
                refused=None,
            )
            _LOGGER.info("usage statistics for %s delivered (HTTP %s)", period, outcome.status)
            return True
        state = await self._state()
        failing_since = state.get("failing_since") or _iso(now)
        if outcome.kind == "fail":
            await store.outbox_update(
                entry.period_start, status=FAILED, attempts=attempts, last_error=outcome.error
            )
            await self._update_state(last_error=outcome.error, failing_since=failing_since)
            _LOGGER.warning(
                "usage statistics for %s refused, not retried: %s", period, outcome.error
            )
            return True
        if outcome.retry_after is not None:
            delay = outcome.retry_after
            retry_until: float | None = now.timestamp() + delay
        else:
            delay = backoff_delay(
                attempts, base=self._backoff_base, cap=self._backoff_cap, rng=self._rng
            )
            retry_until = None
        next_at = int(now.timestamp() + delay + 0.999)
        await store.outbox_update(
            entry.period_start,
            status=PENDING,
            attempts=attempts,
            next_attempt_at=next_at,
            last_error=outcome.error,
        )
        await self._update_state(
            last_error=outcome.error, failing_since=failing_since, retry_after_until=retry_until
        )
        _LOGGER.info(
            "usage statistics for %s not delivered (%s); retrying in %.0f s",
            period,
            outcome.error,
            delay,
        )
        return False

    async def _upcoming_close(self) -> datetime | None:
        """When the next period not yet queued closes (and gets queued)."""
        anchor = await self._service.period_anchor()
        if anchor is None:
            return None
        entries = await self._service.store.outbox_entries()
        if not entries:
            return self._now()  # the first report is queued right away
        last_end = date.fromisoformat(max(e.period_end for e in entries))
        return period_containing(last_end, anchor).end

    async def _next_attempt(
        self, pending: list[OutboxEntry], state: Mapping[str, Any], now: datetime
    ) -> datetime | None:
        """When the next delivery will be tried: a pending retry or the next period's send."""
        retry_after_until = _from_ts(float(state.get("retry_after_until") or 0))
        if pending:
            return max(now, _from_ts(pending[0].next_attempt_at), retry_after_until)
        closes = await self._upcoming_close()
        if closes is None:
            return None
        if closes > now or (await self._service.store.outbox_entries()):
            closes += await self._send_offset(persist=False)
        return max(now, closes, retry_after_until)

    # --- internals: deletion ----------------------------------------------------------------

    async def _try_deletion(self, *, force: bool) -> None:
        """Ask the server to delete each installation a request names (oldest first); forget a
        request once the server agreed or refused for good, and the identity with it when it
        is the current one. The requests outlive `delete_all` (see the service)."""
        service = self._service
        state = await self._state()
        now = self._now()
        if not force and now.timestamp() < float(state.get("deletion_next_attempt") or 0):
            return
        if service.blocked_by_environment:
            _LOGGER.info("deletion request held back: DO_NOT_TRACK or the kill switch is set")
            return
        error: str | None = None
        for request in await service.pending_deletions():
            installation_id = request["installation_id"]
            try:
                base = normalise_endpoint(request.get("endpoint") or self._default_endpoint)
            except EndpointError as err:
                error = f"deletion not possible: {err}"
                await service.cancel_deletion(installation_id)
                continue
            outcome = await self._delete(base, installation_id, request["deletion_secret"])
            if outcome.kind == "ok":
                await service.deletion_done(installation_id)
                _LOGGER.info("the aggregation server deleted this installation's reports")
            elif outcome.kind == "fail":
                error = f"deletion refused: {outcome.error}"
                await service.cancel_deletion(installation_id)
                _LOGGER.warning("the aggregation server refused the deletion: %s", outcome.error)
            else:
                attempts = int(state.get("deletion_attempts") or 0) + 1
                delay = outcome.retry_after
                if delay is None:
                    delay = backoff_delay(
                        attempts, base=self._backoff_base, cap=self._backoff_cap, rng=self._rng
                    )
                await self._update_state(
                    deletion_pending=True,
                    deletion_next_attempt=now.timestamp() + delay,
                    deletion_attempts=attempts,
                    deletion_error=f"deletion pending: {outcome.error}",
                )
                _LOGGER.info("deletion request not delivered (%s); will retry", outcome.error)
                return
        await self._update_state(
            deletion_pending=None,
            deletion_next_attempt=None,
            deletion_attempts=None,
            deletion_error=error,
        )

    async def _delete(self, base: str, installation_id: str, secret: str) -> _Outcome:
        url = f"{base}/installation/{installation_id}"
        # Errors are shown in sensors, diagnostics and pages: they name the route, not the id.
        shown = f"{base}/installation/…"
        try:
            async with self._get_session().delete(
                url,
                headers={"X-Deletion-Secret": secret},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                allow_redirects=False,
            ) as resp:
                if resp.status == 404:
                    # Nothing stored for this id (never delivered, or already deleted).
                    return _Outcome("ok", status=404)
                return await self._outcome(resp)
        except TimeoutError:
            return _Outcome("retry", f"no answer from {shown} within {self._timeout:g} s")
        except (aiohttp.ClientError, OSError) as err:
            return _Outcome("retry", f"cannot connect to {shown}: {type(err).__name__}")
        except (UnicodeError, ValueError) as err:
            # A host name that cannot be encoded (e.g. an empty label): no retry will help.
            return _Outcome("fail", f"invalid server address {base}: {type(err).__name__}")

    # --- internals: state and session -------------------------------------------------------

    async def _state(self) -> dict[str, Any]:
        value = await self._service.store.get_setting(STATE_KEY, {})
        return dict(value) if isinstance(value, dict) else {}

    async def _update_state(self, **changes: Any) -> None:
        """Merge into the persisted delivery state (a value of None removes the key)."""
        state = await self._state()
        for key, value in changes.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        await self._service.store.set_setting(STATE_KEY, state)
        # Sensors and pages showing "last submission" follow a send at once.
        self._service.notify_listeners()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is not None:
            return self._session
        if self._own_session is None or self._own_session.closed:
            # The system resolver (getaddrinfo in a thread), not aiohttp's default, which is
            # aiodns whenever that is importable: an aiodns/pycares pair that does not fit
            # together fails every host-name lookup, and the host's environment picks the pair.
            connector = aiohttp.TCPConnector(resolver=aiohttp.ThreadedResolver())
            self._own_session = aiohttp.ClientSession(connector=connector)
        return self._own_session
