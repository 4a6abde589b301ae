# shellcheck shell=bash
# Stand-in for bashio's config and log functions, answering from a JSON options file
# (BASHIO_OPTIONS, like the Supervisor's /data/options.json). Same outputs as bashio:
# a missing or null option prints "null" (or the given default), booleans print true/false.

__bashio_options="${BASHIO_OPTIONS:-/data/options.json}"

__bashio_lookup() {
    python3 - "${__bashio_options}" "$1" <<'PY'
import json
import sys

options = json.load(open(sys.argv[1], encoding="utf-8"))
value = options.get(sys.argv[2])
if value is None:
    print("null")
elif isinstance(value, bool):
    print("true" if value else "false")
elif isinstance(value, list):
    print("\n".join(str(item) for item in value))
else:
    print(value)
PY
}

bashio::config() {
    local value
    value=$(__bashio_lookup "$1")
    if [[ "${value}" == "null" && -n "${2:-}" ]]; then
        echo "$2"
    else
        echo "${value}"
    fi
}

bashio::config.has_value() {
    local value
    value=$(__bashio_lookup "$1")
    [[ -n "${value}" && "${value}" != "null" ]]
}

bashio::config.true() {
    [[ "$(__bashio_lookup "$1")" == "true" ]]
}

bashio::config.false() {
    [[ "$(__bashio_lookup "$1")" == "false" ]]
}

__bashio_log() {
    local level="$1"
    shift
    echo "[$(date +%T)] ${level}: $*"
}

bashio::log.trace() { :; }
bashio::log.debug() { __bashio_log DEBUG "$@"; }
bashio::log.info() { __bashio_log INFO "$@"; }
bashio::log.notice() { __bashio_log NOTICE "$@"; }
bashio::log.warning() { __bashio_log WARNING "$@"; }
bashio::log.error() { __bashio_log ERROR "$@" >&2; }
bashio::log.fatal() { __bashio_log FATAL "$@" >&2; }

bashio::exit.nok() {
    [[ -n "${1:-}" ]] && bashio::log.fatal "$1"
    exit 1
}

bashio::exit.ok() {
    exit 0
}
