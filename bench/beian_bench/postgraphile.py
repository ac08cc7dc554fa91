"""PostGraphile v4, the peer of the page query: its server, its answers, and the foreign-key indexes of
postgraphile+fk."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
from pathlib import Path

from .pg import cancel_backends, psql, quote_ident, quote_literal
from .proc import free_port, spawn, stop
from .server import http
from .settings import BENCH, Fail, Settings, say


POSTGRAPHILE_APP = "bench-postgraphile"


class PostGraphile:
    """PostGraphile serving settings.db on a port of its own (--dynamic-json, legacy relations omitted, the pool of
    BENCH_PG_POOL, NODE_ENV=production), its connections named POSTGRAPHILE_APP."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        cli = BENCH / "node_modules/postgraphile/cli.js"
        if not cli.exists():
            raise Fail(f"{cli} is missing: run `npm ci --prefix bench` (bench/run.sh does)")
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.log = logs / "postgraphile.log"
        self.command = [
            "node", str(cli), "--connection", with_application_name(settings.db_url, POSTGRAPHILE_APP),
            "--schema", "public", "--host", "127.0.0.1", "--port", str(self.port), "--disable-graphiql",
            "--disable-query-log", "--dynamic-json", "--legacy-relations", "omit",
            "--max-pool-size", str(settings.pool)]
        self.proc: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        self.proc = spawn(self.command, log=self.log, env=dict(os.environ, NODE_ENV="production"))
        return self.proc

    def wait(self) -> None:
        wait_for_graphql(self.url, self.proc, self.log)

    def stop(self) -> None:
        """Stops the process and cancels the queries it left running in PostgreSQL."""
        if self.proc is not None:
            stop(self.proc)
        cancel_backends(self.settings, POSTGRAPHILE_APP)

    def restart(self) -> subprocess.Popen:
        """A fresh process, ready. After a run its slow queries, and the requests queued behind them, outlive the
        load generator: left running, they would eat the CPU of every later measurement."""
        stop(self.proc)
        cancelled = cancel_backends(self.settings, POSTGRAPHILE_APP)
        if cancelled:
            say(f"  cancelled {cancelled} PostGraphile queries still running after the load")
        self.start()
        self.wait()
        return self.proc


def with_application_name(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


def wait_for_graphql(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    body = json.dumps({"query": "{ __typename }"}).encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Fail(f"PostGraphile exited ({proc.returncode}); its log, {log}:\n"
                       + log.read_text(errors="replace")[-3000:])
        try:
            http(url, body=body, headers={"Content-Type": "application/json"}, timeout=2)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.2)
    raise Fail(f"PostGraphile was not ready after {timeout:.0f} s; see {log}")


def normalise_postgraphile(data: dict) -> list:
    return [
        (f["id"], f["status"], f["filingType"], f["version"], f["subject"]["name"], f["subject"]["provinceCode"],
         [(w["id"], w["name"], tuple(w["domains"]), w["homepageUrl"]) for w in f["websites"]["nodes"]],
         [(a["id"], a["kind"], a["fileName"], int(a["size"]), a["status"]) for a in f["attachments"]["nodes"]])
        for f in data["allFilings"]["nodes"]
    ]


# The relations PostGraphile's page query follows, as (table, column): the tenant's filings, and each filing's subject,
# websites and materials. Each gets a single-column index for the postgraphile+fk peer unless an index already
# starts with the column.
FK_INDEX_PREFIX = "bench_fk_"


PAGE_QUERY_FOREIGN_KEYS = [("filings", "tenant_id"), ("filing_subjects", "filing_id"), ("websites", "filing_id"),
                           ("attachments", "filing_id")]


def create_fk_indexes(settings: Settings) -> list[str]:
    created = []
    for table, column in PAGE_QUERY_FOREIGN_KEYS:
        leading = psql(settings.db_url, f"""
            SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_attribute a
              ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = {quote_literal(table)}::regclass AND a.attname = {quote_literal(column)}""")
        if leading:
            say(f"  {table}({column}) already has an index that starts with it: {leading[0][0]}")
            continue
        name = f"{FK_INDEX_PREFIX}{table}_{column}"
        started = time.monotonic()
        psql(settings.db_url, f"CREATE INDEX IF NOT EXISTS {quote_ident(name)} ON {quote_ident(table)} "
                              f"({quote_ident(column)})")
        created.append(f"{table}({column})")
        say(f"  created index {name} on {table}({column}) in {time.monotonic() - started:.1f} s")
    return created


def drop_fk_indexes(settings: Settings, created: list[str]) -> None:
    for table, column in PAGE_QUERY_FOREIGN_KEYS:
        psql(settings.db_url, f"DROP INDEX IF EXISTS {quote_ident(f'{FK_INDEX_PREFIX}{table}_{column}')}",
             check=False)
    if created:
        say(f"dropped the foreign-key indexes of postgraphile+fk: {', '.join(created)}")


def postgraphile_version() -> str:
    try:
        return json.loads((BENCH / "node_modules/postgraphile/package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "not installed"
