"""The data set: seeded by `beian dev seed`, copied for the sections that write, and the inputs the server's own
generators make (`beian dev sample-input`)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .pg import drop_database, psql, psql_value, quote_ident, quote_literal
from .proc import run
from .settings import Fail, Settings, beian_env, say


@dataclass
class Tenant:
    slug: str
    id: str
    api_key: str


def seed_state_path(settings: Settings) -> Path:
    # The main database keeps the name earlier runs used; the scale section's has its own.
    if settings.db.endswith("_scale"):
        return settings.results / "seed-state-scale.json"
    return settings.results / "seed-state.json"


def seed_signature(settings: Settings) -> dict:
    return {"db": settings.db, "pg_url": settings.pg_url, "tenants": settings.tenants, "filings": settings.filings,
            "seed_rng": settings.seed_rng}


def prepare_database(settings: Settings) -> list[Tenant]:
    exists = bool(psql(settings.admin_url, f"SELECT 1 FROM pg_database WHERE datname = {quote_literal(settings.db)}"))
    state_file = seed_state_path(settings)
    if settings.reuse_db and exists and state_file.exists():
        state = json.loads(state_file.read_text())
        if state.get("signature") == seed_signature(settings):
            say(f"reusing database {settings.db}, seeded by an earlier run (BENCH_REUSE_DB=1)")
            run([str(settings.beian_bin), "migrate"], env=beian_env(settings))
            return [Tenant(**t) for t in state["tenants"]]
        say("BENCH_REUSE_DB=1 but the earlier seed had other settings: seeding anew")
    require_dev_seed(settings)
    if exists:
        psql(settings.admin_url, f"DROP DATABASE {quote_ident(settings.db)} WITH (FORCE)")
    psql(settings.admin_url, f"CREATE DATABASE {quote_ident(settings.db)}")
    say(f"database {settings.db}: migrating")
    run([str(settings.beian_bin), "migrate"], env=beian_env(settings))
    started = time.monotonic()
    tenants = seed_with_beian(settings)
    say(f"seeded in {time.monotonic() - started:.1f} s; VACUUM ANALYZE")
    psql(settings.db_url, "VACUUM ANALYZE")
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"signature": seed_signature(settings),
                                      "tenants": [t.__dict__ for t in tenants]}, indent=2))
    return tenants


def require_dev_seed(settings: Settings) -> None:
    probe = run([str(settings.beian_bin), "dev", "seed", "--help"], env=beian_env(settings), check=False)
    if probe.returncode != 0:
        said = (probe.stderr or probe.stdout).strip().splitlines()
        raise Fail(f"{settings.beian_bin} has no `dev seed` command (`beian dev seed --help` failed: "
                   f"{said[0] if said else probe.returncode}). Build a beian that has it.")


def seed_with_beian(settings: Settings) -> list[Tenant]:
    say(f"seeding with `beian dev seed --tenants {settings.tenants} --filings {settings.filings} "
        f"--seed {settings.seed_rng}`")
    result = run([str(settings.beian_bin), "dev", "seed", "--tenants", str(settings.tenants),
                  "--filings", str(settings.filings), "--seed", str(settings.seed_rng)], env=beian_env(settings))
    tenants = []
    for line in result.stdout.splitlines():
        parts = line.strip().split("\t")
        if len(parts) == 3 and re.fullmatch(r"[0-9a-f-]{36}", parts[1]):
            tenants.append(Tenant(slug=parts[0], id=parts[1], api_key=parts[2]))
    if not tenants:
        raise Fail("`beian dev seed` printed no `<slug>\\t<tenant uuid>\\t<api key>` line:\n" + result.stdout[-2000:])
    return tenants


def dataset_facts(settings: Settings, tenant: Tenant) -> dict:
    def count(table: str, where: str = "") -> int:
        return int(psql_value(settings.db_url, f"SELECT count(*) FROM {table} {where}"))
    mine = f"WHERE tenant_id = {quote_literal(tenant.id)}"
    return {
        "tenants": count("tenants"),
        "filings": count("filings"),
        "websites": count("websites"),
        "attachments": count("attachments"),
        "filing_events": count("filing_events"),
        "page_tenant": {"slug": tenant.slug, "id": tenant.id, "filings": count("filings", mine),
                        "websites": count("websites", mine), "attachments": count("attachments", mine)},
        "database_size": psql_value(settings.db_url, "SELECT pg_size_pretty(pg_database_size(current_database()))"),
    }


def tenant_filings(settings: Settings, tenant: Tenant) -> int:
    where = f"tenant_id = {quote_literal(tenant.id)}"
    return int(psql_value(settings.db_url, f"SELECT count(*) FROM filings WHERE {where}"))


def sample_inputs(settings: Settings, kind: str, start: int, count: int) -> list[dict]:
    """`count` valid inputs of a mutation from beian's own generator (`beian dev sample-input KIND`: the forms
    `dev seed` writes, numbered from `start`, in the GraphQL input shape), all different."""
    command = [str(settings.beian_bin), "dev", "sample-input", kind, "--count", str(count), "--start", str(start),
               "--seed", str(settings.seed_rng)]
    result = run(command, env=beian_env(settings), check=False)
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        raise Fail(f"`{' '.join(command[1:])}` failed ({said[-1] if said else result.returncode}): build a beian that "
                   "has `dev sample-input`")
    inputs = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    if len(inputs) != count:
        raise Fail(f"`beian dev sample-input {kind}` printed {len(inputs)} inputs, not {count}")
    return inputs


def make_work_database(settings: Settings) -> Settings:
    """The copy of the seeded database the sections that sign in or write use (created from it as a template, once
    per run), so that the seeded one stays as `dev seed` made it. Nothing may be connected to the seeded database
    meanwhile."""
    work = settings.work
    drop_database(settings, work.db)  # a copy an interrupted run left behind is not this run's data
    say(f"copying {settings.db} to {work.db} for the sections that sign in or write (CREATE DATABASE ... TEMPLATE)")
    started = time.monotonic()
    for attempt in range(20):
        result = run(["psql", settings.admin_url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c",
                      f"CREATE DATABASE {quote_ident(work.db)} TEMPLATE {quote_ident(settings.db)}"], check=False)
        if result.returncode == 0:
            break
        if "being accessed by other users" not in result.stderr or attempt == 19:
            raise Fail(f"cannot copy {settings.db} to {work.db}: {result.stderr.strip()}")
        time.sleep(0.5)
    say(f"  copied in {time.monotonic() - started:.1f} s")
    return work
