"""scale: the page query on the seeded data set against a second one with 10x the filings."""

from __future__ import annotations

from pathlib import Path

from ..dataset import Tenant, prepare_database, tenant_filings
from ..load import measure_load
from ..pg import psql_value
from ..report import one_line
from ..server import graphql, request_body, running_beian
from ..settings import TARGET_CONCURRENCY, TARGET_PAGE_SIZE, Settings, say


def scale_section(settings: Settings, results: dict, logs: Path, tenant: Tenant, postmaster: int | None) -> None:
    big = settings.scale
    say(f"scale: a second database, {big.db}, with {big.filings} filings (beian dev seed; about 6 minutes at 1M)")
    big_tenants = prepare_database(big)
    section = results["scale"] = {"page_size": TARGET_PAGE_SIZE, "concurrency": TARGET_CONCURRENCY, "runs": []}
    for label, where, page_tenant in (("base", settings, tenant), ("scale", big, big_tenants[0])):
        facts = {"database": where.db, "filings": int(psql_value(where.db_url, "SELECT count(*) FROM filings")),
                 "page_tenant_filings": tenant_filings(where, page_tenant),
                 "database_size": psql_value(where.db_url,
                                             "SELECT pg_size_pretty(pg_database_size(current_database()))")}
        body_file = logs / f"body-scale-{label}.json"
        body_file.write_bytes(request_body("beian-page.graphql", {"first": TARGET_PAGE_SIZE}))
        with running_beian(where, logs, f"scale-{label}") as server:
            auth = f"Bearer {page_tenant.api_key}"
            _, answer_bytes = graphql(server.url, body_file.read_bytes(), auth)
            say(f"scale, {facts['filings']} filings ({facts['page_tenant_filings']} in the page tenant): page "
                f"{TARGET_PAGE_SIZE}, concurrency {TARGET_CONCURRENCY}")
            entry = measure_load(where, peer="beian", proc=server.proc, url=server.url, auth=auth,
                                 connections=TARGET_CONCURRENCY, postmaster=postmaster, body_file=body_file,
                                 reference_bytes=answer_bytes)
        say("  " + one_line(entry))
        section["runs"].append({"label": label, **facts, **entry})
    base, scaled = section["runs"]
    for pct in ("p50", "p99"):
        key = f"{pct}_ms"
        section[f"ratio_{pct}"] = scaled[key] / base[key] if base[key] else None
    section["ratio_req_s"] = scaled["req_s"] / base["req_s"] if base["req_s"] else None
