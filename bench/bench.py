#!/usr/bin/env python3
"""The beian benchmark (GitHub issue #10): beian against PostGraphile v4 and a pgbench ceiling, on the same
PostgreSQL data, in one run. Start it through bench/run.sh (which builds the release binary and installs the load
tools); BENCHMARKS.md at the repository root says what is measured and how to read the figures.

Standard library only (Python 3.11). Settings come from the environment; see `bench/run.sh --help` or HELP below.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

HELP = """\
usage: bench/run.sh [--quick] [--only page|coldstart] [--help]

Runs the benchmark described in BENCHMARKS.md and writes bench/results/last-run.{json,md}.

  --quick            short runs and a small data set, to try the harness out (the figures mean nothing)
  --only page        only the page-query comparison (beian, PostGraphile, pgbench ceiling)
  --only coldstart   only the cold start on the embedded defaults

Environment (defaults in brackets):
  BEIAN_BIN             beian binary to measure [run.sh builds target/release/beian under CARGO_TARGET_DIR]
  BENCH_PG_URL          PostgreSQL server, without a database [postgres://postgres@127.0.0.1:5432]
  BENCH_DB              database to create and seed; must start with bench_ [bench_beian]
  BENCH_TENANTS         tenants to seed [10; --quick: 2]
  BENCH_FILINGS         filings to seed, as `beian dev seed --filings` counts them [100000; --quick: 2000]
  BENCH_SEED_RNG        seed of the data generator [1]
  BENCH_REUSE_DB        1: keep using the database seeded by an earlier run with the same settings [0]
  BENCH_KEEP_DB         1: keep the seeded database after the run (then BENCH_REUSE_DB=1 reruns quickly) [0]
  BENCH_PAGE_SIZES      page sizes of the page query [10,50,100]
  BENCH_CONCURRENCY     connections of the load generator [16,64]
  BENCH_WARMUP          seconds of warm-up before each measured run [5; --quick: 1]
  BENCH_DURATION        seconds of each measured run [20; --quick: 3]
  BENCH_THREADS         load-generator threads (wrk -t, pgbench -j) [2]
  BENCH_COLD_RUNS       cold starts to take the median of [5; --quick: 3]
  BENCH_RESTART_PG      1: restart PostgreSQL to load pg_stat_statements when it is not loaded yet [1]
  BENCH_BEIAN_MAX_COMPLEXITY  graphql.max_complexity of the measured beian [beian's default]
  BENCH_PG_POOL         connection pool of each server (beian database.max_connections,
                        PostGraphile --max-pool-size) [10]
  BENCH_RESULTS_DIR     where results and logs go [bench/results]
  QUICK=1               same as --quick
"""


# ----------------------------------------------------------------------------------------------------------------
# Settings


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: list[int]) -> list[int]:
    value = os.environ.get(name, "").strip()
    return [int(v) for v in value.split(",") if v.strip()] if value else default


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


@dataclass
class Settings:
    quick: bool
    only: str | None
    beian_bin: Path
    pg_url: str
    db: str
    tenants: int
    filings: int
    seed_rng: int
    reuse_db: bool
    keep_db: bool
    page_sizes: list[int]
    concurrency: list[int]
    warmup: int
    duration: int
    threads: int
    cold_runs: int
    restart_pg: bool
    max_complexity: int | None
    pool: int
    results: Path
    jwt_secret: str = "bench-only-signing-secret-0123456789abcdef"

    @property
    def db_url(self) -> str:
        return f"{self.pg_url}/{self.db}"

    @property
    def stats_db(self) -> str:
        return "bench_stats"

    @property
    def stats_url(self) -> str:
        return f"{self.pg_url}/{self.stats_db}"

    @property
    def admin_url(self) -> str:
        return f"{self.pg_url}/postgres"

    @classmethod
    def load(cls, argv: list[str]) -> Settings:
        quick = env_flag("QUICK", False)
        only = None
        args = list(argv)
        while args:
            arg = args.pop(0)
            if arg in ("-h", "--help"):
                print(HELP)
                sys.exit(0)
            elif arg == "--quick":
                quick = True
            elif arg == "--only" and args:
                only = args.pop(0)
            elif arg.startswith("--only="):
                only = arg.split("=", 1)[1]
            else:
                raise Fail(f"unknown argument {arg!r} (see --help)")
        if only not in (None, "page", "coldstart"):
            raise Fail(f"--only takes page or coldstart, not {only!r}")
        binary = os.environ.get("BEIAN_BIN", "").strip()
        if not binary:
            target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache/beian-target")
            binary = str(Path(target) / "release/beian")
        db = os.environ.get("BENCH_DB", "bench_beian").strip()
        if not re.fullmatch(r"bench_[a-z0-9_]+", db):
            raise Fail(f"BENCH_DB must be bench_ followed by lower-case letters, digits or _, not {db!r}")
        return cls(
            quick=quick,
            only=only,
            beian_bin=Path(binary),
            pg_url=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/"),
            db=db,
            tenants=env_int("BENCH_TENANTS", 2 if quick else 10),
            filings=env_int("BENCH_FILINGS", 2000 if quick else 100_000),
            seed_rng=env_int("BENCH_SEED_RNG", 1),
            reuse_db=env_flag("BENCH_REUSE_DB", False),
            keep_db=env_flag("BENCH_KEEP_DB", False),
            page_sizes=env_list("BENCH_PAGE_SIZES", [10, 50, 100]),
            concurrency=env_list("BENCH_CONCURRENCY", [16, 64]),
            warmup=env_int("BENCH_WARMUP", 1 if quick else 5),
            duration=env_int("BENCH_DURATION", 3 if quick else 20),
            threads=env_int("BENCH_THREADS", 2),
            cold_runs=env_int("BENCH_COLD_RUNS", 3 if quick else 5),
            restart_pg=env_flag("BENCH_RESTART_PG", True),
            max_complexity=env_int("BENCH_BEIAN_MAX_COMPLEXITY", 0) or None,
            pool=env_int("BENCH_PG_POOL", 10),
            results=Path(os.environ.get("BENCH_RESULTS_DIR", str(HERE / "results"))).resolve(),
        )


# The page size and concurrency the targets of issue #10 are stated for: "the 50 newest filings", "concurrency 16".
TARGET_PAGE_SIZE = 50
TARGET_CONCURRENCY = 16


class Fail(Exception):
    """A reason to stop the run, said to the user as it is."""


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# ----------------------------------------------------------------------------------------------------------------
# Processes the run started (and only those) are stopped on the way out.

STARTED: list[subprocess.Popen] = []


def spawn(cmd: list[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None):
    handle = open(log, "ab")
    proc = subprocess.Popen(
        cmd, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
        start_new_session=True,
    )
    handle.close()
    STARTED.append(proc)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:
            pass
    if proc in STARTED:
        STARTED.remove(proc)


def stop_all() -> None:
    for proc in list(STARTED):
        stop(proc, timeout=10)


def run(cmd: list[str], *, env: dict[str, str] | None = None, check: bool = True, timeout: float | None = None,
        input: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, input=input)
    if check and result.returncode != 0:
        said = result.stderr.strip() or result.stdout.strip()
        raise Fail(f"`{' '.join(cmd[:4])} ...` failed ({result.returncode}):\n{said}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------------------------------------------
# PostgreSQL


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
                f"SELECT calls, query FROM pg_stat_statements WHERE dbid = {db_oid(settings)} ORDER BY calls DESC")
    statements = [{"calls": int(calls), "query": query} for calls, query in rows]
    return sum(s["calls"] for s in statements), statements


def postmaster_pid(settings: Settings) -> int | None:
    try:
        data_dir = psql_value(settings.admin_url, "SHOW data_directory")
        return int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError, Fail):
        return None


# ----------------------------------------------------------------------------------------------------------------
# CPU and memory of processes, from /proc.

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces): state is [0], ppid [1], utime [11] ... cstime [14].
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid: int, children: bool = False) -> float:
    fields = proc_stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def postgres_cpu_seconds(postmaster: int | None) -> float | None:
    """CPU of the whole PostgreSQL cluster: the postmaster, its live children, and (through the postmaster's
    cutime/cstime) the children that exited, e.g. pgbench's backends."""
    if postmaster is None:
        return None
    total = cpu_seconds(postmaster, children=True)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields and fields[1] == str(postmaster):
                total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / CLK_TCK
    return total


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------------------------------------------------------
# HTTP and GraphQL


def http(url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 60.0):
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def graphql(url: str, body: bytes, auth: str | None = None) -> tuple[dict, int]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if auth:
        headers["Authorization"] = auth
    try:
        status, raw = http(url, body=body, headers=headers)
    except urllib.error.HTTPError as error:
        raise Fail(f"{url} answered HTTP {error.code}: {error.read()[:500]!r}") from None
    answer = json.loads(raw)
    if status != 200 or answer.get("errors") or not answer.get("data"):
        raise Fail(f"{url} answered with errors: {json.dumps(answer)[:800]}")
    return answer["data"], len(raw)


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Fail(f"{proc.args[0]} exited ({proc.returncode}) before it was ready; its log, {log}:\n"
                       + log.read_text(errors="replace")[-3000:])
        try:
            status, _ = http(url, timeout=2)
            if status == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.1)
    raise Fail(f"{url} was not ready after {timeout:.0f} s; see {log}")


# ----------------------------------------------------------------------------------------------------------------
# The data set


def beian_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEIAN_") and k != "RUST_LOG"}
    env.update({
        "BEIAN_DATABASE_URL": settings.db_url,
        "BEIAN_AUTH_JWT_SECRET": settings.jwt_secret,
        "BEIAN_LOG_FILTER": "warn",
        "BEIAN_MAIL_DISPATCH": "false",
        "BEIAN_DATABASE_MAX_CONNECTIONS": str(settings.pool),
        "BEIAN_GRAPHQL_GRAPHIQL": "false",
    })
    if settings.max_complexity:
        env["BEIAN_GRAPHQL_MAX_COMPLEXITY"] = str(settings.max_complexity)
    env.update(extra)
    return env


@dataclass
class Tenant:
    slug: str
    id: str
    api_key: str


def seed_state_path(settings: Settings) -> Path:
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


# ----------------------------------------------------------------------------------------------------------------
# The page query and its twin


def gid(value: str) -> str:
    """The UUID inside a beian global ID (base64url of `Kind:uuid`)."""
    text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    return text.split(":", 1)[1]


def normalise_beian(data: dict) -> list:
    return [
        (gid(f["id"]), f["status"], f["filingType"], f["version"], f["subject"]["name"], f["subject"]["provinceCode"],
         [(gid(w["id"]), w["name"], tuple(w["domains"]), w["homepageUrl"]) for w in f["websites"]],
         [(gid(a["id"]), a["kind"], a["fileName"], int(a["size"]), a["status"]) for a in f["attachments"]])
        for f in data["filings"]["nodes"]
    ]


def normalise_postgraphile(data: dict) -> list:
    return [
        (f["id"], f["status"], f["filingType"], f["version"], f["subject"]["name"], f["subject"]["provinceCode"],
         [(w["id"], w["name"], tuple(w["domains"]), w["homepageUrl"]) for w in f["websites"]["nodes"]],
         [(a["id"], a["kind"], a["fileName"], int(a["size"]), a["status"]) for a in f["attachments"]["nodes"]])
        for f in data["allFilings"]["nodes"]
    ]


def request_body(query_file: str, variables: dict) -> bytes:
    query = (HERE / "queries" / query_file).read_text()
    return json.dumps({"query": query, "variables": variables, "operationName": "BenchPage"}).encode()


# ----------------------------------------------------------------------------------------------------------------
# What SQL beian issues for one page request: read from PostgreSQL's own log (log_statement = all, set on the
# benchmark database for a capture instance of beian only), with the parameters it bound.

LOG_ENTRY = re.compile(r"\[(\d+)\][^\n]*?\b(LOG|DETAIL|STATEMENT|ERROR|WARNING|NOTICE|FATAL|HINT|CONTEXT):  (.*)$")
PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


def log_file(settings: Settings) -> Path | None:
    try:
        current = psql_value(settings.admin_url, "SELECT pg_current_logfile()")
    except Fail:
        current = ""
    if current:
        path = Path(current)
        if not path.is_absolute():
            path = Path(psql_value(settings.admin_url, "SHOW data_directory")) / path
        return path
    cluster = debian_cluster(pg_port(settings))
    if cluster and cluster.get("log_file"):
        return Path(cluster["log_file"])
    return None


def parse_statements(text: str, database: str) -> list[dict]:
    """Statements executed (log_statement = all) in `text`, each with its bound parameters, in order."""
    entries: list[dict] = []
    for line in text.splitlines():
        match = LOG_ENTRY.search(line)
        if match is None:
            if entries:
                entries[-1]["text"] += "\n" + line
            continue
        pid, severity, message = match.groups()
        prefix = line[: match.start()] + line[match.start(): match.start(3)]
        entries.append({"pid": pid, "severity": severity, "text": message, "prefix": prefix})
    statements: list[dict] = []
    last_by_pid: dict[str, dict] = {}
    for entry in entries:
        if f"@{database} " not in entry["prefix"] and "@" in entry["prefix"]:
            continue
        text = entry["text"]
        if entry["severity"] == "LOG":
            found = re.match(r"(?:execute [^:]*|statement): (.*)", text, re.S)
            if found:
                statement = {"sql": found.group(1).strip(), "params": {}}
                statements.append(statement)
                last_by_pid[entry["pid"]] = statement
        elif entry["severity"] == "DETAIL" and text.startswith("parameters:") and entry["pid"] in last_by_pid:
            for number, value in PARAM.findall(text):
                last_by_pid[entry["pid"]]["params"][int(number)] = (
                    None if value == "NULL" else value[1:-1].replace("''", "'"))
    return statements


def inline(statement: dict) -> str:
    """The statement with its parameters written in as literals (for reading, and psql)."""
    def literal(match: re.Match) -> str:
        value = statement["params"].get(int(match.group(1)))
        return "NULL" if value is None else quote_literal(value)
    return re.sub(r"\$(\d+)\b", literal, statement["sql"])


def pgbench_script(statements: list[dict], prefix: str) -> tuple[str, list[str]]:
    """A pgbench script (prepared mode: pgbench variables become bound parameters, as beian binds them) and the
    -D definitions of its variables."""
    lines, defines = [], []
    for index, statement in enumerate(statements):
        def variable(match: re.Match) -> str:
            number = int(match.group(1))
            value = statement["params"].get(number)
            if value is None:
                return "NULL"
            name = f"{prefix}{index}_{number}"
            defines.append(f"{name}={value}")
            return f":{name}"
        sql = re.sub(r"\$(\d+)\b", variable, statement["sql"])
        lines.append(" ".join(sql.split()) + ";")
    return "\n".join(lines) + "\n", defines


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


# ----------------------------------------------------------------------------------------------------------------
# Load generators


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def wrk(settings: Settings, url: str, body_file: Path, auth: str | None, connections: int, seconds: int) -> dict:
    env = dict(os.environ, BENCH_BODY=str(body_file), BENCH_AUTH=auth or "")
    threads = max(1, min(settings.threads, connections))
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
           "-s", str(HERE / "wrk/graphql.lua"), url]
    result = run(cmd, env=env, timeout=seconds + 120)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise Fail(f"wrk printed no BENCH_JSON line:\n{result.stdout}\n{result.stderr}")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    url: str
    auth: str | None
    body_files: dict[int, Path] = field(default_factory=dict)
    reference_bytes: dict[int, int] = field(default_factory=dict)


def measure_http(settings: Settings, server: Server, size: int, connections: int, postmaster: int | None) -> dict:
    body_file = server.body_files[size]
    wrk(settings, server.url, body_file, server.auth, connections, settings.warmup)
    reset_statements(settings)
    before = (cpu_seconds(server.proc.pid), postgres_cpu_seconds(postmaster), children_cpu(), time.monotonic())
    out = wrk(settings, server.url, body_file, server.auth, connections, settings.duration)
    after = (cpu_seconds(server.proc.pid), postgres_cpu_seconds(postmaster), children_cpu(), time.monotonic())
    time.sleep(0.5)  # requests still in flight when wrk stopped finish their SQL
    calls, statements = statement_calls(settings)
    requests = out["requests"]
    seconds = out["duration_us"] / 1e6
    errors = sum(out[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_status", "errors_timeout"))
    mean_bytes = out["bytes"] / requests if requests else 0
    # An answer with GraphQL errors is still HTTP 200, but far smaller than the page: compare with the checked one.
    short = requests > 0 and mean_bytes < 0.9 * server.reference_bytes[size]
    cpu = {
        "server_s": after[0] - before[0],
        "postgres_s": None if before[1] is None else after[1] - before[1],
        "load_generator_s": after[2] - before[2],
    }
    return {
        "peer": server.name, "page_size": size, "concurrency": connections, "requests": requests,
        "seconds": round(seconds, 3), "req_s": requests / seconds if seconds else 0.0,
        "p50_ms": out["p50_us"] / 1000, "p90_ms": out["p90_us"] / 1000, "p99_ms": out["p99_us"] / 1000,
        "mean_ms": out["latency_mean_us"] / 1000, "max_ms": out["latency_max_us"] / 1000,
        "errors": errors, "mean_response_bytes": round(mean_bytes), "answers_look_wrong": short,
        "cpu": cpu, "cpu_per_1000": per_thousand(cpu, requests), "cores_used": cores(cpu, after[3] - before[3]),
        "sql_statements_per_request": calls / requests if requests else None,
        # Requests still in flight when wrk stops add their SQL but are not counted: at most `connections` of them.
        "sql_statements_per_request_approximate": requests < 50 * connections,
        "sql_statements": statements[:40] if server.name == "beian" else statements[:10],
        "rss_mib": rss_mib(server.proc.pid),
    }


def per_thousand(cpu: dict, requests: int) -> dict:
    return {k: (None if v is None or not requests else v / requests * 1000) for k, v in cpu.items()}


def cores(cpu: dict, seconds: float) -> dict:
    return {k: (None if v is None or not seconds else v / seconds) for k, v in cpu.items()}


def measure_pgbench(settings: Settings, script: Path, defines: list[str], statements_per_tx: int, size: int,
                    connections: int, postmaster: int | None, logs: Path) -> dict:
    available = int(psql_value(settings.admin_url,
                               "SELECT current_setting('max_connections')::int"
                               " - current_setting('superuser_reserved_connections')::int"
                               " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"))
    clients = min(connections, max(1, available - 2))
    base = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(max(1, min(settings.threads, clients))),
            "-f", str(script)]
    for define in defines:
        base += ["-D", define]
    run(base + ["-T", str(settings.warmup), settings.db_url], timeout=settings.warmup + 120)
    log_dir = Path(tempfile.mkdtemp(prefix="pgbench-log-", dir=logs))
    reset_statements(settings)
    before = (postgres_cpu_seconds(postmaster), children_cpu(), time.monotonic())
    result = run(base + ["-T", str(settings.duration), "-l", "--log-prefix", str(log_dir / "tx"), settings.db_url],
                 timeout=settings.duration + 120)
    after = (postgres_cpu_seconds(postmaster), children_cpu(), time.monotonic())
    calls, _ = statement_calls(settings)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", result.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    latencies = []
    for file in log_dir.iterdir():
        for line in file.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                latencies.append(int(parts[2]) / 1000)
    shutil.rmtree(log_dir, ignore_errors=True)
    latencies.sort()
    transactions = int(processed.group(1)) if processed else len(latencies)
    cpu = {"server_s": None, "postgres_s": None if before[0] is None else after[0] - before[0],
           "load_generator_s": after[1] - before[1]}
    return {
        "peer": "pgbench", "page_size": size, "concurrency": clients, "requested_concurrency": connections,
        "requests": transactions, "seconds": settings.duration,
        "req_s": float(tps.group(1)) if tps else 0.0,
        "p50_ms": percentile(latencies, 50), "p90_ms": percentile(latencies, 90), "p99_ms": percentile(latencies, 99),
        "mean_ms": statistics.fmean(latencies) if latencies else None, "max_ms": latencies[-1] if latencies else None,
        "errors": int(failed.group(1)) if failed else 0, "cpu": cpu, "cpu_per_1000": per_thousand(cpu, transactions),
        "cores_used": cores(cpu, after[2] - before[2]),
        "sql_statements_per_request": statements_per_tx,
        "sql_statements_per_request_measured": calls / transactions if transactions else None,
    }


# ----------------------------------------------------------------------------------------------------------------
# The page-query comparison


def page_query(settings: Settings, results: dict, logs: Path) -> None:
    tenants = prepare_database(settings)
    tenant = tenants[0]
    results["dataset"] = dataset_facts(settings, tenant)
    say(f"data set: {results['dataset']}")
    if results["dataset"]["page_tenant"]["filings"] < max(settings.page_sizes):
        say(f"warning: tenant {tenant.slug} has fewer filings than the largest page size")
    postmaster = postmaster_pid(settings)
    if postmaster is None:
        say("warning: PostgreSQL's postmaster pid is not readable here; its CPU is not measured")

    say("capturing the SQL beian issues for one page request (log_statement on a capture instance)")
    captured = capture_beian_sql(settings, tenant, logs)
    page = results["page_query"] = {"runs": [], "captured_sql": {}, "equivalence": {}}
    scripts: dict[int, tuple[Path, list[str], int]] = {}
    for size, capture in captured.items():
        if "statements" in capture:
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
        else:
            page["captured_sql"][str(size)] = {"error": capture["error"]}
            say(f"page size {size}: no pgbench ceiling: {capture['error']}")

    # The two servers, started once and kept for every run.
    beian_port, pgl_port = free_port(), free_port()
    beian_log, pgl_log = logs / "beian.log", logs / "postgraphile.log"
    data_dir = Path(tempfile.mkdtemp(prefix="beian-bench-data-"))
    beian = spawn([str(settings.beian_bin), "serve", "--listen", f"127.0.0.1:{beian_port}"], log=beian_log,
                  env=beian_env(settings, BEIAN_DATA_DIR=str(data_dir)))
    cli = HERE / "node_modules/postgraphile/cli.js"
    if not cli.exists():
        raise Fail(f"{cli} is missing: run `npm ci --prefix bench` (bench/run.sh does)")
    def start_postgraphile() -> subprocess.Popen:
        return spawn(
            ["node", str(cli), "--connection", with_application_name(settings.db_url, POSTGRAPHILE_APP),
             "--schema", "public", "--host", "127.0.0.1",
             "--port", str(pgl_port), "--disable-graphiql", "--disable-query-log", "--dynamic-json",
             "--legacy-relations", "omit", "--max-pool-size", str(settings.pool)],
            log=pgl_log, env=dict(os.environ, NODE_ENV="production"))

    postgraphile = start_postgraphile()
    page["servers"] = {
        "beian": {"command": f"beian serve --listen 127.0.0.1:{beian_port}",
                  "environment": {k: v for k, v in beian_env(settings).items()
                                  if k.startswith("BEIAN_") and k != "BEIAN_AUTH_JWT_SECRET"}},
        "postgraphile": {"command": " ".join(str(a) for a in postgraphile.args[1:]), "NODE_ENV": "production"},
    }
    try:
        wait_ready(f"http://127.0.0.1:{beian_port}/readyz", beian, beian_log)
        pgl_url = f"http://127.0.0.1:{pgl_port}/graphql"
        wait_for_graphql(pgl_url, postgraphile, pgl_log)
        servers = [
            Server("beian", beian, f"http://127.0.0.1:{beian_port}/graphql", f"Bearer {tenant.api_key}"),
            Server("postgraphile", postgraphile, pgl_url, None),
        ]
        bodies = Path(tempfile.mkdtemp(prefix="bodies-", dir=logs))
        for size in settings.page_sizes:
            for server in servers:
                if server.name == "beian":
                    body = request_body("beian-page.graphql", {"first": size})
                else:
                    body = request_body("postgraphile-page.graphql", {"first": size, "tenantId": tenant.id})
                path = bodies / f"{server.name}-{size}.json"
                path.write_bytes(body)
                server.body_files[size] = path
            # Both must answer the same filings, websites and materials before either is measured.
            beian_data, beian_bytes = graphql(servers[0].url, servers[0].body_files[size].read_bytes(),
                                              servers[0].auth)
            pgl_data, pgl_bytes = graphql(servers[1].url, servers[1].body_files[size].read_bytes())
            servers[0].reference_bytes[size], servers[1].reference_bytes[size] = beian_bytes, pgl_bytes
            ours, theirs = normalise_beian(beian_data), normalise_postgraphile(pgl_data)
            if ours != theirs:
                first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
                raise Fail(f"page size {size}: beian and PostGraphile answer different pages (first difference at "
                           f"filing {first}: beian {ours[first] if first < len(ours) else None}, PostGraphile "
                           f"{theirs[first] if first < len(theirs) else None})")
            page["equivalence"][str(size)] = {"filings": len(ours), "same": True, "beian_bytes": beian_bytes,
                                              "postgraphile_bytes": pgl_bytes}
            say(f"page size {size}: both answer the same {len(ours)} filings "
                f"({beian_bytes} and {pgl_bytes} bytes)")

        for size in settings.page_sizes:
            for connections in settings.concurrency:
                for server in servers:
                    say(f"page {size}, concurrency {connections}: {server.name} "
                        f"({settings.warmup} s warm-up, {settings.duration} s measured)")
                    entry = measure_http(settings, server, size, connections, postmaster)
                    page["runs"].append(entry)
                    say("  " + one_line(entry))
                    if server.name == "postgraphile":
                        # Its slow queries, and the requests queued behind them, outlive the load generator: left
                        # running, they would eat the CPU of every later measurement. A fresh process, with what
                        # the old one left in PostgreSQL cancelled.
                        stop(server.proc)
                        cancelled = cancel_backends(settings, POSTGRAPHILE_APP)
                        if cancelled:
                            say(f"  cancelled {cancelled} PostGraphile queries still running after the load")
                        server.proc = postgraphile = start_postgraphile()
                        wait_for_graphql(pgl_url, postgraphile, pgl_log)
                if size in scripts:
                    script, defines, count = scripts[size]
                    say(f"page {size}, concurrency {connections}: pgbench ceiling")
                    entry = measure_pgbench(settings, script, defines, count, size, connections, postmaster, logs)
                    page["runs"].append(entry)
                    say("  " + one_line(entry))
        shutil.rmtree(bodies, ignore_errors=True)
    finally:
        stop(beian)
        stop(postgraphile)
        shutil.rmtree(data_dir, ignore_errors=True)


POSTGRAPHILE_APP = "bench-postgraphile"


def with_application_name(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


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


def one_line(entry: dict) -> str:
    stmts = entry.get("sql_statements_per_request")
    pg = entry["cpu_per_1000"].get("postgres_s")
    return (f"{entry['req_s']:.1f} req/s, p50 {fmt(entry['p50_ms'])} p90 {fmt(entry['p90_ms'])} "
            f"p99 {fmt(entry['p99_ms'])} ms, {fmt(stmts, 2)} SQL/request, "
            f"postgres {fmt(pg, 2)} CPU-s/1000 req, errors {entry['errors']}"
            + (" — ANSWERS LOOK WRONG (too short)" if entry.get("answers_look_wrong") else "")
            + (" — NO REQUEST COMPLETED" if not entry["requests"] else ""))


def fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:.{digits}f}"


# ----------------------------------------------------------------------------------------------------------------
# Cold start on the embedded defaults


def cold_start(settings: Settings, results: dict, logs: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEIAN_") and k != "RUST_LOG"}
    body = json.dumps({"query": "{ referenceData { provinces { code } } }"}).encode()
    runs = []
    for attempt in range(settings.cold_runs):
        work = Path(tempfile.mkdtemp(prefix="beian-bench-cold-"))
        port = free_port()
        log = logs / f"cold-start-{attempt + 1}.log"
        started = time.perf_counter()
        proc = spawn([str(settings.beian_bin), "serve", "--listen", f"127.0.0.1:{port}"], log=log, env=env, cwd=work)
        ready_ms = answered_ms = None
        try:
            deadline = started + 60
            while time.perf_counter() < deadline and ready_ms is None:
                if proc.poll() is not None:
                    raise Fail(f"beian exited ({proc.returncode}) during a cold start; see {log}")
                try:
                    status, _ = http(f"http://127.0.0.1:{port}/readyz", timeout=5)
                    if status == 200:
                        ready_ms = (time.perf_counter() - started) * 1000
                except (urllib.error.URLError, ConnectionError, OSError):
                    time.sleep(0.002)
            if ready_ms is None:
                raise Fail(f"beian was not ready 60 s after a cold start; see {log}")
            status, raw = http(f"http://127.0.0.1:{port}/graphql", body=body,
                               headers={"Content-Type": "application/json"}, timeout=30)
            answered_ms = (time.perf_counter() - started) * 1000
            answer = json.loads(raw)
            if answer.get("errors") or not answer.get("data", {}).get("referenceData", {}).get("provinces"):
                raise Fail(f"the first GraphQL answer after a cold start has errors: {raw[:300]!r}")
        finally:
            stop(proc)
            shutil.rmtree(work, ignore_errors=True)
        runs.append({"ready_ms": ready_ms, "first_answer_ms": answered_ms})
        say(f"cold start {attempt + 1}: /readyz 200 after {ready_ms:.0f} ms, first GraphQL answer after "
            f"{answered_ms:.0f} ms")
    results["cold_start"] = {
        "runs": runs,
        "median_ready_ms": statistics.median(r["ready_ms"] for r in runs),
        "median_first_answer_ms": statistics.median(r["first_answer_ms"] for r in runs),
        "how": "fresh empty working directory (data_dir ./data: SQLite, secret, embedded S3 all created), no "
               "BEIAN_* variables; from spawn to the first 200 of /readyz and to the answer of "
               "{ referenceData { provinces { code } } }",
    }


# ----------------------------------------------------------------------------------------------------------------
# Targets and the measurements this harness does not take yet

NOT_MEASURED = [
    ("filing_detail", "filing detail (`filing(id:)` with its whole tree)"),
    ("review_queue", "the review queue (`reviewQueue`)"),
    ("create_filing", "createFiling"),
    ("submit_approve", "a submit -> approve transition pair, with its outbox rows"),
    ("email_dispatch", "email dispatch rate into a local SMTP sink"),
    ("upload_rss", "a 100 MB multipart upload (peak RSS growth)"),
    ("scale_1m", "page-query latency at 1M filings against 100k"),
]


def find_run(results: dict, peer: str, size: int, concurrency: int) -> dict | None:
    for entry in results.get("page_query", {}).get("runs", []):
        wanted = entry.get("requested_concurrency", entry["concurrency"])
        if entry["peer"] == peer and entry["page_size"] == size and wanted == concurrency:
            return entry
    return None


def evaluate_targets(settings: Settings, results: dict) -> list[dict]:
    targets = []

    def target(key: str, text: str, measured, threshold: str, ok: bool | None, note: str = "") -> None:
        status = "NOT MEASURED" if ok is None else ("PASS" if ok else "MISS")
        targets.append({"id": key, "target": text, "measured": measured, "threshold": threshold, "status": status,
                        "note": note})

    size, conc = TARGET_PAGE_SIZE, TARGET_CONCURRENCY
    ours = find_run(results, "beian", size, conc)
    theirs = find_run(results, "postgraphile", size, conc)
    ceiling = find_run(results, "pgbench", size, conc)
    where = f"page {size}, concurrency {conc}"
    if ours and theirs and theirs["req_s"]:
        ratio = ours["req_s"] / theirs["req_s"]
        target("vs_postgraphile", f"page query req/s at least 5x PostGraphile's ({where})", round(ratio, 2), ">= 5",
               ratio >= 5)
    elif ours and theirs and ours["req_s"]:
        # PostGraphile answered nothing within the measured seconds: any ratio is unbounded.
        target("vs_postgraphile", f"page query req/s at least 5x PostGraphile's ({where})",
               f"{ours['req_s']:.1f} vs 0 req/s", ">= 5", True)
    else:
        target("vs_postgraphile", f"page query req/s at least 5x PostGraphile's ({where})", None, ">= 5", None,
               "page size 50 at concurrency 16 was not run")
    if ours and ceiling and ceiling["req_s"]:
        ratio = ours["req_s"] / ceiling["req_s"]
        target("vs_ceiling", f"page query req/s at least 75% of the pgbench ceiling ({where})", round(ratio, 3),
               ">= 0.75", ratio >= 0.75)
    else:
        why = (results.get("page_query", {}).get("captured_sql", {}).get(str(size)) or {})
        target("vs_ceiling", f"page query req/s at least 75% of the pgbench ceiling ({where})", None, ">= 0.75", None,
               why.get("error", "not run") if isinstance(why, dict) else "not run")
    if ours:
        target("p99", f"page query p99 under 50 ms ({where})", round(ours["p99_ms"], 2), "< 50 ms",
               ours["p99_ms"] < 50)
    else:
        target("p99", f"page query p99 under 50 ms ({where})", None, "< 50 ms", None, "not run")
    # Judged on the captured requests (one at a time, every statement of each counted); the figures under load
    # also count the statements of requests still in flight when the load generator stops.
    per_size = {}
    for size, captured in results.get("page_query", {}).get("captured_sql", {}).items():
        seen = captured.get("statements_per_request_seen") if isinstance(captured, dict) else None
        if seen:
            per_size[int(size)] = max(seen)
    if len(per_size) >= 2:
        smallest, largest = min(per_size), max(per_size)
        grows = per_size[largest] > per_size[smallest]
        target("statements_flat", "SQL statements per request do not grow with page size",
               {str(k): v for k, v in sorted(per_size.items())},
               f"page {largest} <= page {smallest} (most of 5 captured requests)", not grows)
    else:
        target("statements_flat", "SQL statements per request do not grow with page size", None,
               "same at every page size", None, "needs two page sizes")
    target("scale_1m", "page-query latency at 1M filings within 1.3x of 100k", None, "<= 1.3x", None,
           "not measured yet")
    target("upload_rss", "RSS growth of a 100 MB multipart upload under 32 MiB", None, "< 32 MiB", None,
           "not measured yet")
    cold = results.get("cold_start")
    if cold:
        ms = cold["median_first_answer_ms"]
        target("cold_start", "cold start to the first answered request under 0.5 s (embedded defaults)",
               round(ms, 1), "< 500 ms", ms < 500)
    else:
        target("cold_start", "cold start to the first answered request under 0.5 s (embedded defaults)", None,
               "< 500 ms", None, "not run")
    return targets


# ----------------------------------------------------------------------------------------------------------------
# Reports


def machine_facts(settings: Settings) -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass

    def version(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    commit = version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True).stdout.strip())
    try:
        pg_version = psql_value(settings.admin_url, "SHOW server_version")
        pg_settings = {name: psql_value(settings.admin_url, f"SHOW {name}")
                       for name in ("shared_buffers", "max_connections", "work_mem", "synchronous_commit")}
    except Fail:
        pg_version, pg_settings = "?", {}
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory": memory, "kernel": platform.release(),
        "os": version(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "postgresql": pg_version, "postgresql_settings": pg_settings,
        "beian": version([str(settings.beian_bin), "--version"]), "beian_bin": str(settings.beian_bin),
        "beian_build": build_kind(settings.beian_bin),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "postgraphile": postgraphile_version(), "node": version(["node", "--version"]),
        "wrk": version(["wrk", "--version"]), "pgbench": version(["pgbench", "--version"]),
        "python": platform.python_version(),
    }


def build_kind(binary: Path) -> str:
    path = str(binary)
    return "release" if "/release/" in path else "DEBUG" if "/debug/" in path else "unknown (see beian_bin)"


def postgraphile_version() -> str:
    try:
        return json.loads((HERE / "node_modules/postgraphile/package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "not installed"


def table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def report(settings: Settings, results: dict, markdown: bool) -> str:
    out = []
    h = (lambda text: f"### {text}") if markdown else (lambda text: f"\n== {text}")
    machine = results["machine"]
    if markdown:
        kind = "QUICK: figures for trying the harness only" if settings.quick else "full"
        out.append(f"Run of {results['finished_at']} ({kind}), commit {machine['commit']}, beian build "
                   f"{machine['beian_build']}.")
        out.append(table(["", ""], [[k, str(v)] for k, v in machine.items() if k != "postgresql_settings"]
                         + [["postgresql settings", ", ".join(f"{k}={v}" for k, v in
                                                              machine["postgresql_settings"].items())]], True))
        out.append("")
        out.append("Command: `" + results["command"] + "`")
    else:
        out.append(h("Machine"))
        for key, value in machine.items():
            out.append(f"  {key}: {value}")
    if results.get("dataset"):
        out.append(h("Data set"))
        d = results["dataset"]
        out.append(f"{d['tenants']} tenants, {d['filings']} filings, {d['websites']} websites, {d['attachments']} "
                   f"materials, {d['filing_events']} events ({d['database_size']}); the page tenant "
                   f"{d['page_tenant']['slug']} has {d['page_tenant']['filings']} filings.")
    runs = results.get("page_query", {}).get("runs", [])
    if runs:
        out.append(h("Page query: beian vs PostGraphile vs the pgbench ceiling"))
        rows = []
        for entry in runs:
            c = entry["cpu_per_1000"]
            rows.append([str(entry["page_size"]), str(entry["concurrency"]), entry["peer"], f"{entry['req_s']:.1f}",
                         fmt(entry["p50_ms"], 2), fmt(entry["p90_ms"], 2), fmt(entry["p99_ms"], 2),
                         fmt(c.get("server_s"), 3), fmt(c.get("postgres_s"), 3), fmt(c.get("load_generator_s"), 3),
                         ("≈" if entry.get("sql_statements_per_request_approximate") and entry["requests"] else "")
                         + fmt(entry.get("sql_statements_per_request"), 2),
                         str(entry["errors"]) + (" SHORT ANSWERS" if entry.get("answers_look_wrong") else "")
                         + (" NONE COMPLETED" if not entry["requests"] else "")])
        out.append(table(["page", "conc", "peer", "req/s", "p50 ms", "p90 ms", "p99 ms", "server CPU-s/1k",
                          "postgres CPU-s/1k", "loadgen CPU-s/1k", "SQL/req", "errors"], rows, markdown))
        out.append("CPU-s/1k: CPU seconds per 1000 requests (server: the beian or node process; postgres: the whole "
                   "cluster; loadgen: wrk or pgbench). SQL/req: statements per request from pg_stat_statements "
                   "(≈: fewer than 50 requests per connection, so the requests still in flight at the end, whose "
                   "SQL counts, weigh); for pgbench, the statements of its script. pgbench runs beian's own SQL for "
                   "one request as one transaction: its req/s is the ceiling.")
    captured = results.get("page_query", {}).get("captured_sql", {})
    if captured:
        out.append(h("SQL beian issues for one page request (captured, parameters shown as $n)"))
        for size, capture in captured.items():
            if "error" in capture:
                out.append(f"page {size}: not captured: {capture['error']}")
                continue
            statements = capture["statements"]
            seen = capture["statements_per_request_seen"]
            out.append(f"page {size}: {len(statements)} statements (the fewest of {seen}, the counts of {len(seen)} "
                       "warm requests, one at a time):")
            lines = []
            for s in statements:
                sql = " ".join(s["sql"].split())
                sql = sql if len(sql) < 220 else sql[:217] + "..."
                lines.append(f"- `{sql}`" if markdown else f"    {sql}")
            out.append("\n".join(lines))
    cold = results.get("cold_start")
    if cold:
        out.append(h("Cold start on the embedded defaults"))
        out.append(f"median of {len(cold['runs'])}: /readyz 200 after {cold['median_ready_ms']:.0f} ms, first GraphQL "
                   f"answer after {cold['median_first_answer_ms']:.0f} ms ({cold['how']}).")
    out.append(h("Targets"))
    out.append(table(["target", "measured", "threshold", "status"],
                     [[t["target"], json.dumps(t["measured"]) if t["measured"] is not None else "-", t["threshold"],
                       t["status"] + (f" ({t['note']})" if t["note"] else "")] for t in results["targets"]], markdown))
    out.append(h("Not measured yet"))
    for key, text in NOT_MEASURED:
        out.append(("- " if markdown else "  ") + f"{text}: not measured yet")
    if markdown:
        return "\n\n".join(out)
    # Plain text: long sentences wrapped, tables and lists as they are.
    return "\n".join(part if "\n" in part or len(part) <= 118 else textwrap.fill(part, 118) for part in out)


# ----------------------------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    settings = Settings.load(argv)
    settings.results.mkdir(parents=True, exist_ok=True)
    logs = settings.results / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    if not settings.beian_bin.exists():
        raise Fail(f"no beian binary at {settings.beian_bin}: build it (`cargo build --release --locked`, as "
                   "bench/run.sh does) or set BEIAN_BIN")
    for tool in ("psql", "pgbench", "wrk", "node"):
        if not shutil.which(tool):
            raise Fail(f"{tool} is not installed (bench/run.sh installs wrk; psql and pgbench come with PostgreSQL)")
    if settings.quick:
        say("QUICK mode: short runs on a small data set; the figures are for trying the harness, not for recording")
    if build_kind(settings.beian_bin) != "release":
        say(f"warning: {settings.beian_bin} is not a release build (under target/release): compare figures of "
            "release builds only")
    results: dict = {
        "schema": "beian-bench/1",
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": settings.quick,
        "command": "bench/run.sh" + (" --quick" if settings.quick else "")
                   + (f" --only {settings.only}" if settings.only else ""),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in settings.__dict__.items()
                     if k != "jwt_secret"},
    }
    if settings.only in (None, "page"):
        ensure_pg_stat_statements(settings)
    results["machine"] = machine_facts(settings)
    try:
        if settings.only in (None, "page"):
            page_query(settings, results, logs)
        if settings.only in (None, "coldstart"):
            cold_start(settings, results, logs)
    finally:
        stop_all()
        if not settings.keep_db and settings.only != "coldstart":
            psql(settings.admin_url, f"DROP DATABASE IF EXISTS {quote_ident(settings.db)} WITH (FORCE)", check=False)
            seed_state_path(settings).unlink(missing_ok=True)
        if settings.only != "coldstart":
            psql(settings.admin_url, f"DROP DATABASE IF EXISTS {quote_ident(settings.stats_db)} WITH (FORCE)",
                 check=False)
    results["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results["targets"] = evaluate_targets(settings, results)
    results["not_measured"] = [{"id": key, "what": text, "status": "not measured yet"} for key, text in NOT_MEASURED]
    (settings.results / "last-run.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (settings.results / "last-run.md").write_text(report(settings, results, markdown=True) + "\n")
    print(report(settings, results, markdown=False))
    print(f"\n[bench] results: {settings.results / 'last-run.json'} and last-run.md (Markdown for BENCHMARKS.md)")
    missed = [t["id"] for t in results["targets"] if t["status"] == "MISS"]
    if missed:
        print(f"[bench] targets MISSED: {', '.join(missed)} (when recording the run, BENCHMARKS.md says why each "
              "was missed and what would close it)")
    return 0


if __name__ == "__main__":
    def interrupted(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)
    try:
        sys.exit(main(sys.argv[1:]))
    except Fail as error:
        stop_all()
        print(f"[bench] error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        stop_all()
        print("[bench] interrupted", file=sys.stderr)
        sys.exit(130)
