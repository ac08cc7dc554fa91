"""PostgreSQL through psql: queries, pg_stat_statements, databases, the cluster."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from .proc import run
from .settings import Fail, Settings, say


def psql(url: str, sql: str, *, check: bool = True) -> list[list[str]]:
    # Unit and record separators: query texts (pg_stat_statements) hold newlines.
    result = run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-R", "\x1e", "-c", sql], check=check)
    return [record.split("\x1f") for record in result.stdout.rstrip("\n").split("\x1e") if record.strip()]


def psql_value(url: str, sql: str) -> str:
    rows = psql(url, sql)
    return rows[0][0] if rows else ""


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def pg_port(settings: Settings) -> int:
    match = re.search(r":(\d+)$", settings.pg_url.split("@")[-1])
    return int(match.group(1)) if match else 5432


def debian_cluster(port: int) -> dict | None:
    """The Debian cluster (pg_lsclusters) listening on `port`: version, name, data directory, log file."""
    if not shutil.which("pg_lsclusters"):
        return None
    for line in run(["pg_lsclusters", "-h"], check=False).stdout.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[2] == str(port):
            return {"version": parts[0], "name": parts[1], "data_directory": parts[5],
                    "log_file": parts[6] if len(parts) > 6 else None}
    return None


def ensure_pg_stat_statements(settings: Settings) -> None:
    loaded = psql_value(settings.admin_url, "SHOW shared_preload_libraries")
    if "pg_stat_statements" not in [lib.strip() for lib in loaded.split(",")]:
        cluster = debian_cluster(pg_port(settings))
        if not settings.restart_pg:
            raise Fail("pg_stat_statements is not loaded (shared_preload_libraries) and BENCH_RESTART_PG=0: add it "
                       "to shared_preload_libraries, restart PostgreSQL, and run again")
        if cluster is None:
            raise Fail("pg_stat_statements is not loaded and the PostgreSQL cluster is not a Debian one this "
                       "script can restart: add pg_stat_statements to shared_preload_libraries, restart it, run again")
        libraries = ",".join([lib.strip() for lib in loaded.split(",") if lib.strip()] + ["pg_stat_statements"])
        say(f"pg_stat_statements is not loaded: adding it to shared_preload_libraries and RESTARTING PostgreSQL "
            f"{cluster['version']}/{cluster['name']} (port {pg_port(settings)}); its other sessions are cut off")
        psql(settings.admin_url, f"ALTER SYSTEM SET shared_preload_libraries = {quote_literal(libraries)}")
        run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster["version"], cluster["name"], "restart"])
        for _ in range(60):
            if run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(pg_port(settings))], check=False).returncode == 0:
                break
            time.sleep(0.5)
        loaded = psql_value(settings.admin_url, "SHOW shared_preload_libraries")
        if "pg_stat_statements" not in loaded:
            raise Fail("PostgreSQL restarted without pg_stat_statements loaded")
    # The statistics are read from a database of the harness's own, so the benchmarked one stays as beian made it.
    if not psql(settings.admin_url, f"SELECT 1 FROM pg_database WHERE datname = {quote_literal(settings.stats_db)}"):
        psql(settings.admin_url, f"CREATE DATABASE {quote_ident(settings.stats_db)}")
    psql(settings.stats_url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def db_oid(settings: Settings) -> str:
    return psql_value(settings.admin_url, f"SELECT oid FROM pg_database WHERE datname = {quote_literal(settings.db)}")


def reset_statements(settings: Settings) -> None:
    psql(settings.stats_url, f"SELECT pg_stat_statements_reset(0, {db_oid(settings)}, 0)")


def statement_calls(settings: Settings) -> tuple[int, list[dict]]:
    rows = psql(settings.stats_url,
                f"SELECT calls, round(total_exec_time::numeric, 1), query FROM pg_stat_statements "
                f"WHERE dbid = {db_oid(settings)} ORDER BY calls DESC")
    statements = [{"calls": int(calls), "total_ms": float(total), "query": query} for calls, total, query in rows]
    return sum(s["calls"] for s in statements), statements


def postmaster_pid(settings: Settings) -> int | None:
    try:
        data_dir = psql_value(settings.admin_url, "SHOW data_directory")
        return int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError, Fail):
        return None


def drop_database(settings: Settings, name: str) -> None:
    psql(settings.admin_url, f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)", check=False)


def cancel_backends(settings: Settings, application: str, timeout: float = 60.0) -> int:
    """Cancels the queries the application's connections are still running, and waits until they stopped."""
    active = (f"FROM pg_stat_activity WHERE datname = {quote_literal(settings.db)} "
              f"AND application_name = {quote_literal(application)} AND state <> 'idle'")
    cancelled = int(psql_value(settings.admin_url, f"SELECT count(pg_cancel_backend(pid)) {active}") or 0)
    deadline = time.monotonic() + timeout
    while int(psql_value(settings.admin_url, f"SELECT count(*) {active}") or 0) > 0:
        if time.monotonic() > deadline:
            raise Fail(f"{application}'s queries did not stop within {timeout:.0f} s of being cancelled")
        time.sleep(0.5)
    return cancelled
