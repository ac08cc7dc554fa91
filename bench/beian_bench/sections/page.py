"""page: the page query on beian, PostGraphile, PostGraphile with foreign-key indexes, and the pgbench ceiling of
beian's own SQL for one request."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..dataset import Tenant
from ..load import measure_load, measure_pgbench
from ..pg import psql, quote_ident
from ..postgraphile import PostGraphile, create_fk_indexes, drop_fk_indexes, normalise_postgraphile
from ..proc import free_port, spawn, stop
from ..report import one_line
from ..server import gid, graphql, request_body, wait_ready
from ..settings import SECRET_VARIABLES, Fail, Settings, beian_env, say
from ..sqllog import inline, log_file, parse_statements, pgbench_script


CAPTURE_ROUNDS = 5


def capture_beian_sql(settings: Settings, tenant: Tenant, logs: Path) -> dict[int, dict]:
    """Per page size: the statements one warm page request issues ({'statements': [...]}), or {'error': why}."""
    path = log_file(settings)
    if path is None or not path.exists():
        why = f"PostgreSQL's log file is not known or not readable ({path}); the pgbench ceiling needs it"
        return {size: {"error": why} for size in settings.page_sizes}
    db = quote_ident(settings.db)
    psql(settings.admin_url, f"ALTER DATABASE {db} SET log_statement = 'all'")
    psql(settings.admin_url, f"ALTER DATABASE {db} SET log_min_duration_statement = -1")
    psql(settings.admin_url, f"ALTER DATABASE {db} SET log_parameter_max_length = -1")
    port = free_port()
    log = logs / "beian-capture.log"
    data_dir = Path(tempfile.mkdtemp(prefix="beian-bench-capture-"))
    proc = spawn([str(settings.beian_bin), "serve", "--listen", f"127.0.0.1:{port}"], log=log,
                 env=beian_env(settings, BEIAN_DATA_DIR=str(data_dir)))
    captured: dict[int, dict] = {}
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc, log)
        time.sleep(1.5)  # let the start-up work and the background jobs' first pass go by
        url = f"http://127.0.0.1:{port}/graphql"
        for size in settings.page_sizes:
            body = request_body("beian-page.graphql", {"first": size})
            rounds = []
            for _ in range(CAPTURE_ROUNDS + 1):
                start = path.stat().st_size
                graphql(url, body, f"Bearer {tenant.api_key}")
                time.sleep(0.4)
                with open(path, "rb") as handle:
                    handle.seek(start)
                    text = handle.read().decode(errors="replace")
                rounds.append(parse_statements(text, settings.db))
            # The first request warms the connections up. Of the later ones, the one with the fewest statements is
            # the script (work that is not the request's, like a background job's pass, could only add some); how
            # many each issued is kept, as the number varies when the data loaders split their batches.
            warm = rounds[1:]
            counts = [len(r) for r in warm]
            best = min(warm, key=len)
            if not best:
                captured[size] = {"error": f"no statement of the page request found in {path} (is log_statement "
                                           "honoured, and does the log prefix hold [%p]?)"}
            else:
                captured[size] = {"statements": best, "counts": counts}
    finally:
        stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)
        for setting in ("log_statement", "log_min_duration_statement", "log_parameter_max_length"):
            psql(settings.admin_url, f"ALTER DATABASE {db} RESET {setting}", check=False)
    return captured


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    url: str
    auth: str | None
    body_files: dict[int, Path] = field(default_factory=dict)
    reference_bytes: dict[int, int] = field(default_factory=dict)


def measure_http(settings: Settings, server: Server, size: int, connections: int, postmaster: int | None) -> dict:
    entry = measure_load(settings, peer=server.name, proc=server.proc, url=server.url, auth=server.auth,
                         connections=connections, postmaster=postmaster, body_file=server.body_files[size],
                         reference_bytes=server.reference_bytes[size], keep_statements=40 if server.name == "beian"
                         else 10)
    return {"peer": entry.pop("peer"), "page_size": size, **entry}


def normalise_beian(data: dict) -> list:
    return [
        (gid(f["id"]), f["status"], f["filingType"], f["version"], f["subject"]["name"], f["subject"]["provinceCode"],
         [(gid(w["id"]), w["name"], tuple(w["domains"]), w["homepageUrl"]) for w in f["websites"]],
         [(gid(a["id"]), a["kind"], a["fileName"], int(a["size"]), a["status"]) for a in f["attachments"]])
        for f in data["filings"]["nodes"]
    ]


def page_query(settings: Settings, results: dict, logs: Path, tenant: Tenant, postmaster: int | None) -> None:
    if results["dataset"]["page_tenant"]["filings"] < max(settings.page_sizes):
        say(f"warning: tenant {tenant.slug} has fewer filings than the largest page size")

    say("capturing the SQL beian issues for one page request (log_statement on a capture instance)")
    captured = capture_beian_sql(settings, tenant, logs)
    page = results["page_query"] = {"runs": [], "captured_sql": {}, "equivalence": {}}
    scripts = write_pgbench_scripts(settings, page, captured)

    # The two servers, started once and kept for every run (PostGraphile is restarted after each of its runs).
    beian_port = free_port()
    beian_log = logs / "beian.log"
    data_dir = Path(tempfile.mkdtemp(prefix="beian-bench-data-"))
    beian = spawn([str(settings.beian_bin), "serve", "--listen", f"127.0.0.1:{beian_port}"], log=beian_log,
                  env=beian_env(settings, BEIAN_DATA_DIR=str(data_dir)))
    postgraphile = PostGraphile(settings, logs)
    postgraphile.start()
    page["servers"] = {
        "beian": {"command": f"beian serve --listen 127.0.0.1:{beian_port}",
                  "environment": {k: v for k, v in beian_env(settings).items()
                                  if k.startswith("BEIAN_") and k not in SECRET_VARIABLES}},
        "postgraphile": {"command": " ".join(str(a) for a in postgraphile.command[1:]), "NODE_ENV": "production"},
    }
    try:
        wait_ready(f"http://127.0.0.1:{beian_port}/readyz", beian, beian_log)
        postgraphile.wait()
        servers = [
            Server("beian", beian, f"http://127.0.0.1:{beian_port}/graphql", f"Bearer {tenant.api_key}"),
            Server("postgraphile", postgraphile.proc, postgraphile.url, None),
        ]
        bodies = Path(tempfile.mkdtemp(prefix="bodies-", dir=logs))
        same_pages(settings, page, servers, tenant, bodies)

        for size in settings.page_sizes:
            for connections in settings.concurrency:
                for server in servers:
                    say(f"page {size}, concurrency {connections}: {server.name} "
                        f"({settings.warmup} s warm-up, {settings.duration} s measured)")
                    entry = measure_http(settings, server, size, connections, postmaster)
                    page["runs"].append(entry)
                    say("  " + one_line(entry))
                    if server.name == "postgraphile":
                        server.proc = postgraphile.restart()
                if size in scripts:
                    script, defines, count = scripts[size]
                    say(f"page {size}, concurrency {connections}: pgbench ceiling")
                    entry = measure_pgbench(settings, script, defines, count, size, connections, postmaster, logs)
                    page["runs"].append(entry)
                    say("  " + one_line(entry))

        if settings.postgraphile_fk:
            postgraphile_fk(settings, page, postgraphile, servers, postmaster)
        shutil.rmtree(bodies, ignore_errors=True)
    finally:
        stop(beian)
        postgraphile.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def write_pgbench_scripts(settings: Settings, page: dict,
                          captured: dict[int, dict]) -> dict[int, tuple[Path, list[str], int]]:
    """Per page size with a capture: the pgbench script of beian's statements (in the results folder), its -D
    definitions and how many statements it holds."""
    scripts: dict[int, tuple[Path, list[str], int]] = {}
    for size, capture in captured.items():
        if "statements" not in capture:
            page["captured_sql"][str(size)] = {"error": capture["error"]}
            say(f"page size {size}: no pgbench ceiling: {capture['error']}")
            continue
        statements = capture["statements"]
        page["captured_sql"][str(size)] = {
            "statements_per_request_seen": capture["counts"],
            "statements": [{"sql": s["sql"], "params": s["params"], "inlined": inline(s)} for s in statements],
        }
        text, defines = pgbench_script(statements, "p")
        script = settings.results / f"pgbench-page-{size}.sql"
        script.write_text(f"-- beian's SQL for one page request of {size} filings (captured; parameters are "
                          f"pgbench variables, see pgbench-page-{size}.defines)\n" + text)
        (settings.results / f"pgbench-page-{size}.defines").write_text("\n".join(defines) + "\n")
        (settings.results / f"beian-sql-page-{size}.sql").write_text(
            "\n".join(inline(s).rstrip(";") + ";" for s in statements) + "\n")
        scripts[size] = (script, defines, len(statements))
        say(f"page size {size}: beian issued {len(statements)} statements (in {len(capture['counts'])} requests: "
            f"{capture['counts']}); pgbench script {script.name}")
    return scripts


def same_pages(settings: Settings, page: dict, servers: list[Server], tenant: Tenant, bodies: Path) -> None:
    """Writes each server's request body per page size, and checks that both answer the same filings, websites and
    materials before either is measured."""
    beian, postgraphile = servers
    for size in settings.page_sizes:
        for server in servers:
            if server.name == "beian":
                body = request_body("beian-page.graphql", {"first": size})
            else:
                body = request_body("postgraphile-page.graphql", {"first": size, "tenantId": tenant.id})
            path = bodies / f"{server.name}-{size}.json"
            path.write_bytes(body)
            server.body_files[size] = path
        beian_data, beian_bytes = graphql(beian.url, beian.body_files[size].read_bytes(), beian.auth)
        pgl_data, pgl_bytes = graphql(postgraphile.url, postgraphile.body_files[size].read_bytes())
        beian.reference_bytes[size], postgraphile.reference_bytes[size] = beian_bytes, pgl_bytes
        ours, theirs = normalise_beian(beian_data), normalise_postgraphile(pgl_data)
        if ours != theirs:
            first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
            raise Fail(f"page size {size}: beian and PostGraphile answer different pages (first difference at "
                       f"filing {first}: beian {ours[first] if first < len(ours) else None}, PostGraphile "
                       f"{theirs[first] if first < len(theirs) else None})")
        page["equivalence"][str(size)] = {"filings": len(ours), "same": True, "beian_bytes": beian_bytes,
                                          "postgraphile_bytes": pgl_bytes}
        say(f"page size {size}: both answer the same {len(ours)} filings ({beian_bytes} and {pgl_bytes} bytes)")


def postgraphile_fk(settings: Settings, page: dict, postgraphile: PostGraphile, servers: list[Server],
                    postmaster: int | None) -> None:
    """The fairer comparison: PostGraphile again after single-column indexes on the foreign keys its page query
    follows (its documentation asks for an index on every foreign key, and its nested lists filter by filing_id
    alone, which beian's indexes, tenant_id first, do not serve); the indexes are dropped afterwards."""
    beian, plain = servers
    created = create_fk_indexes(settings)
    page["fk_indexes"] = created
    try:
        fk = Server("postgraphile+fk", postgraphile.restart(), postgraphile.url, None, plain.body_files,
                    plain.reference_bytes)
        for size in settings.page_sizes:
            pgl_data, _ = graphql(fk.url, fk.body_files[size].read_bytes())
            if normalise_postgraphile(pgl_data) != normalise_beian(
                    graphql(beian.url, beian.body_files[size].read_bytes(), beian.auth)[0]):
                raise Fail(f"page size {size}: with the foreign-key indexes, PostGraphile answers another page")
        for size in settings.page_sizes:
            for connections in settings.concurrency:
                say(f"page {size}, concurrency {connections}: {fk.name} (indexes {', '.join(created)}; "
                    f"{settings.warmup} s warm-up, {settings.duration} s measured)")
                entry = measure_http(settings, fk, size, connections, postmaster)
                page["runs"].append(entry)
                say("  " + one_line(entry))
                fk.proc = postgraphile.restart()
    finally:
        postgraphile.stop()
        drop_fk_indexes(settings, created)
