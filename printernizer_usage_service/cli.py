"""The `printernizer-usage` command line: `serve` runs the service with hypercorn."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from printernizer_usage_core.models import CONSENT_VERSION, DeploymentMode

from . import __version__
from .config import (
    DEFAULT_APP_VERSION,
    DEFAULT_DATA_DIR,
    DEFAULT_HOST,
    DEFAULT_PORT,
    ENV_NAMES,
    ConfigError,
    ServiceConfig,
)

DESCRIPTION = """\
Privacy-first, opt-in usage statistics for Printernizer outside Home Assistant.

Runs a small local web service with a page for your privacy settings and statistics
(http://HOST:PORT/) and a REST API under /api/v1/usage-stats/ that Printernizer calls to
record events. Nothing is sent anywhere until you opt in on the page or via the API.
"""

SERVE_EPILOG = f"""\
environment variables (a flag wins over its variable):
  {ENV_NAMES["host"]:<32} --host
  {ENV_NAMES["port"]:<32} --port
  {ENV_NAMES["data_dir"]:<32} --data-dir
  {ENV_NAMES["endpoint"]:<32} --endpoint
  {ENV_NAMES["token"]:<32} --token
  {ENV_NAMES["app_version"]:<32} --app-version
  {ENV_NAMES["deployment_mode"]:<32} --deployment-mode
  {ENV_NAMES["log_level"]:<32} --log-level
  {ENV_NAMES["time_zone"]:<32} time zone (IANA name, e.g. Europe/Berlin): the only source of
  {"":<32} the reported country (default: the system's zone)
  DO_NOT_TRACK=1 or PRINTERNIZER_USAGE_DISABLED=1   never send anything (local stats still work)
  SUPERVISOR_TOKEN or HASSIO_TOKEN  only whether one is set: detects a Home Assistant add-on

examples:
  printernizer-usage serve
  printernizer-usage serve --data-dir /var/lib/printernizer-usage --app-version 1.6.0
  printernizer-usage serve --host 0.0.0.0 --token "$(openssl rand -hex 24)"

consent version of this release: {CONSENT_VERSION}
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (flags default to None so the environment can fill them)."""
    parser = argparse.ArgumentParser(
        prog="printernizer-usage",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run the local statistics service (page + REST API)",
        description="Run the local statistics service: the page at / and the API.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--host",
        help=f"address to listen on (default {DEFAULT_HOST}, this machine only; anything "
        "else needs --token)",
    )
    serve.add_argument("--port", help=f"TCP port (default {DEFAULT_PORT})")
    serve.add_argument(
        "--data-dir",
        help=f"folder for the SQLite file usage.db (default {DEFAULT_DATA_DIR})",
    )
    serve.add_argument(
        "--endpoint",
        help="aggregation server base URL that reports are POSTed to (+ /submit); https "
        "required except for 127.0.0.1 (default: the Printernizer project server)",
    )
    serve.add_argument(
        "--token",
        help="secret that writes and the reads showing this installation's identity (local, "
        "settings, preview, export) require as 'Authorization: Bearer <token>' (at least 12 "
        "characters; required when --host is not loopback)",
    )
    serve.add_argument(
        "--app-version",
        help="Printernizer version reported in statistics, a release number such as 1.6.0 "
        f"(default {DEFAULT_APP_VERSION}: reports then say the version is not known)",
    )
    serve.add_argument(
        "--deployment-mode",
        choices=[mode.value for mode in DeploymentMode],
        help="override the detected deployment mode",
    )
    serve.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity (default INFO)",
    )
    serve.add_argument(
        "--no-submit",
        action="store_true",
        help="never send anything: no weekly report and no 'send now' (statistics stay local "
        "even when opted in; a deletion you ask for on opt-out is still sent once)",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log every HTTP request (time, request line, status, size, duration; never the "
        "client's address)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> ServiceConfig:
    """Environment first, then the flags on top."""
    config = ServiceConfig.from_env()
    return config.with_overrides(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        endpoint=args.endpoint,
        token=args.token,
        app_version=args.app_version,
        deployment_mode=args.deployment_mode,
        log_level=args.log_level,
        submit=False if args.no_submit else None,
    )


async def run_service(config: ServiceConfig, *, access_log: bool = False) -> None:
    """Serve the app until SIGINT/SIGTERM."""
    from .app import create_app
    from .server import install_stop_signals, serve_app

    stop = asyncio.Event()
    install_stop_signals(stop)
    app = create_app(config)
    where = f"http://{config.host}:{config.port}/"
    logging.getLogger(__name__).info("Printernizer usage statistics on %s", where)
    await serve_app(app, config.host, config.port, stop.wait, access_log=access_log)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `printernizer-usage` and `python -m printernizer_usage_service`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "serve":
        parser.print_help()
        return 2
    try:
        config = config_from_args(args)
    except ConfigError as err:
        parser.exit(2, f"printernizer-usage: error: {err}\n")
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(run_service(config, access_log=args.access_log))
    except KeyboardInterrupt:
        pass
    except OSError as err:
        print(
            f"printernizer-usage: cannot listen on {config.host}:{config.port}: {err}",
            file=sys.stderr,
        )
        return 1
    return 0
