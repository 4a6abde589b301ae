"""Versioned schema migrations for both backends (applied in order, recorded in the DB)."""

from __future__ import annotations

# Days are stored as proleptic ordinals (date.toordinal()) in both backends: compact, fast to
# compare and identical in SQLite and PostgreSQL. No table has a column for an address.
_V1_COMMON = (
    """CREATE TABLE submissions (
        installation_id TEXT NOT NULL,
        period_start_day INTEGER NOT NULL,
        period_end_day INTEGER NOT NULL,
        submission_id TEXT NOT NULL,
        received_day INTEGER NOT NULL,
        schema_version TEXT NOT NULL,
        app_version TEXT NOT NULL,
        deployment_mode TEXT NOT NULL,
        country_code TEXT NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (installation_id, period_start_day)
    )""",
    "CREATE INDEX submissions_period_end ON submissions (period_end_day)",
    """CREATE TABLE installations (
        installation_id TEXT PRIMARY KEY,
        deletion_key_hash TEXT,
        first_day INTEGER NOT NULL,
        last_day INTEGER NOT NULL
    )""",
    """CREATE TABLE installation_latest (
        installation_id TEXT PRIMARY KEY,
        period_start_day INTEGER NOT NULL,
        period_end_day INTEGER NOT NULL,
        contrib TEXT NOT NULL
    )""",
    "CREATE INDEX installation_latest_end ON installation_latest (period_end_day)",
    """CREATE TABLE latest_rollup (
        day INTEGER NOT NULL,
        dim TEXT NOT NULL,
        key TEXT NOT NULL,
        installations BIGINT NOT NULL,
        total BIGINT NOT NULL,
        PRIMARY KEY (day, dim, key)
    )""",
    """CREATE TABLE weekly_rollup (
        week INTEGER NOT NULL,
        dim TEXT NOT NULL,
        key TEXT NOT NULL,
        installations BIGINT NOT NULL,
        total BIGINT NOT NULL,
        PRIMARY KEY (week, dim, key)
    )""",
    """CREATE TABLE daily_activity (
        day INTEGER PRIMARY KEY,
        submissions BIGINT NOT NULL,
        new_installations BIGINT NOT NULL
    )""",
    """CREATE TABLE rate_limits (
        installation_id TEXT NOT NULL,
        hour INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        PRIMARY KEY (installation_id, hour)
    )""",
)

SQLITE_MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [(1, _V1_COMMON)]
POSTGRES_MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [(1, _V1_COMMON)]

# v2: dashboard sign-in state shared by every server process (aggregation/storage/signin.py).
# Sessions are stored as the sha256 of their random id; login attempts per time window under
# an HMAC of (window, client network) keyed with SECRET_KEY, or "*" for all clients together.
# Both tables hold short-lived rows only (expired ones are deleted); neither has an address.
_V2_SIGNIN = (
    """CREATE TABLE IF NOT EXISTS admin_sessions (
        session_hash TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS admin_sessions_expiry ON admin_sessions (expires_at)",
    """CREATE TABLE IF NOT EXISTS login_attempts (
        bucket TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        attempts INTEGER NOT NULL,
        PRIMARY KEY (bucket, window_start)
    )""",
)
SQLITE_MIGRATIONS.append((2, _V2_SIGNIN))
POSTGRES_MIGRATIONS.append((2, _V2_SIGNIN))

# v3: what alerts were pushed, so each anomaly is sent once across restarts and server
# processes, and the last delivery result per channel for the dashboard. Neither stores anything
# about an installation: an alert key names a kind, an error type and a week.
ALERTS_MIGRATION = 3
_V3_ALERTS = (
    """CREATE TABLE IF NOT EXISTS alerts_sent (
        alert_key TEXT PRIMARY KEY,
        first_sent BIGINT NOT NULL,
        channels TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        channel TEXT PRIMARY KEY,
        attempted_at BIGINT NOT NULL,
        ok INTEGER NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
)
SQLITE_MIGRATIONS.append((ALERTS_MIGRATION, _V3_ALERTS))
POSTGRES_MIGRATIONS.append((ALERTS_MIGRATION, _V3_ALERTS))

# v4: the keys of multi-valued dimensions (printer types, features, errors) in each
# installation's latest report, one row each, kept by the write path with the latest report
# (aggregation/storage/sql.py). The exact "other" bucket counts the installations behind the
# folded keys with an index instead of scanning every latest report. Existing databases are
# filled from installation_latest.contrib ([[dim, key, n, total], ...] as JSON).
LATEST_KEYS_MIGRATION = 4
_LATEST_KEYS_DIMS = "('printer_type', 'feature', 'error')"  # rollups.MULTI_VALUED
_V4_LATEST_KEYS_TABLE = """CREATE TABLE IF NOT EXISTS latest_keys (
        dim TEXT NOT NULL,
        key TEXT NOT NULL,
        installation_id TEXT NOT NULL,
        PRIMARY KEY (dim, key, installation_id)
    )"""
_V4_LATEST_KEYS_INDEX = (
    "CREATE INDEX IF NOT EXISTS latest_keys_installation ON latest_keys (installation_id)"
)
SQLITE_MIGRATIONS.append(
    (
        LATEST_KEYS_MIGRATION,
        (
            # The rows are their key: without a rowid SQLite keeps one b-tree for them, not two.
            _V4_LATEST_KEYS_TABLE + " WITHOUT ROWID",
            _V4_LATEST_KEYS_INDEX,
            "INSERT INTO latest_keys (dim, key, installation_id) "
            "SELECT DISTINCT json_extract(c.value, '$[0]'), json_extract(c.value, '$[1]'), "
            "l.installation_id FROM installation_latest l, json_each(l.contrib) c "
            f"WHERE json_extract(c.value, '$[0]') IN {_LATEST_KEYS_DIMS}",
        ),
    )
)
POSTGRES_MIGRATIONS.append(
    (
        LATEST_KEYS_MIGRATION,
        (
            _V4_LATEST_KEYS_TABLE,
            _V4_LATEST_KEYS_INDEX,
            "INSERT INTO latest_keys (dim, key, installation_id) "
            "SELECT DISTINCT c.value ->> 0, c.value ->> 1, l.installation_id "
            "FROM installation_latest l, jsonb_array_elements(l.contrib::jsonb) c "
            f"WHERE c.value ->> 0 IN {_LATEST_KEYS_DIMS}",
        ),
    )
)
