"""Settings of a run (the environment and the command line), the sections, and how the harness speaks."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

# bench/ (queries, wrk scripts, node_modules, results) and the repository.
BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent


HELP = """\
usage: bench/run.sh [--quick] [--only SECTION[,SECTION...]] [--help]

Runs the benchmark described in BENCHMARKS.md and writes bench/results/last-run.{json,md}.

  --quick            short runs and a small data set, to try the harness out (the figures mean nothing)
  --only SECTIONS    only these sections (comma-separated), in the order of the full run:
      page           the page query: beian, PostGraphile, PostGraphile with foreign-key indexes, pgbench ceiling
      detail         filing(id:) with its whole tree, as a reviewer (wrk over a sample of filings)
      queue          reviewQueue, as a reviewer
      create         createFiling, as the registrar's backend (wrk, a different valid subject per request)
      transitions    claimReview -> approvePreliminaryReview pairs, serial and concurrent, with their outbox rows
      email          the mail dispatcher delivering the queued outbox into a local SMTP sink
      upload         a 100 MB GraphQL multipart upload: peak RSS growth of beian
      coldstart      cold start on the embedded defaults
      scale          the page query on BENCH_FILINGS against 10x as many filings (seeds a second database; in the
                     full run only when BENCH_SCALE_FILINGS is set: about 6 minutes of seeding at 1M filings)

Environment (defaults in brackets):
  BEIAN_BIN             beian binary to measure [run.sh builds target/release/beian under CARGO_TARGET_DIR]
  BENCH_PG_URL          PostgreSQL server, without a database [postgres://postgres@127.0.0.1:5432]
  BENCH_DB              database to create and seed; must start with bench_ [bench_beian]. The sections that
                        sign in or write (detail to upload) work on a copy, BENCH_DB_w, dropped at the end; the
                        scale section seeds BENCH_DB_scale
  BENCH_TENANTS         tenants to seed [10; --quick: 2]
  BENCH_FILINGS         filings to seed, as `beian dev seed --filings` counts them [100000; --quick: 2000]
  BENCH_SEED_RNG        seed of the data generator [1]
  BENCH_REUSE_DB        1: keep using the database seeded by an earlier run with the same settings [0]
  BENCH_KEEP_DB         1: keep the seeded database(s) after the run (then BENCH_REUSE_DB=1 reruns quickly) [0]
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
  BENCH_POSTGRAPHILE_FK 1: after the PostGraphile runs, add single-column foreign-key indexes and run it again as
                        peer postgraphile+fk (the indexes are dropped afterwards) [1]
  BENCH_DETAIL_FILINGS  filings of the page tenant the detail section rotates through [200; --quick: 50]
  BENCH_QUEUE_PAGE      page size of the review queue [50]
  BENCH_PAIRS_SERIAL    transition pairs done one after the other [100; --quick: 10]
  BENCH_PAIRS_WORKERS   concurrent workers of the transition pairs, each on its own filings [8]
  BENCH_PAIRS_PER_WORKER  pairs per concurrent worker [75; --quick: 5]
  BENCH_MAIL_MESSAGES   fewest queued messages the email section delivers; more transition pairs are driven when
                        fewer are queued [1000; --quick: 100]
  BENCH_UPLOAD_MB       size of the multipart upload, in MiB [100]
  BENCH_SCALE_FILINGS   filings of the scale section's second database; set it to include the section in the full
                        run (e.g. 1000000 against BENCH_FILINGS=100000) [unset; --only scale: 10 x BENCH_FILINGS]
  BENCH_RESULTS_DIR     where results and logs go [bench/results]
  QUICK=1               same as --quick
"""


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: list[int]) -> list[int]:
    value = os.environ.get(name, "").strip()
    return [int(v) for v in value.split(",") if v.strip()] if value else default


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


# The sections of a run, in the order the full run takes them (BENCHMARKS.md, "What one run does").
SECTIONS = ["page", "detail", "queue", "create", "transitions", "email", "upload", "webhooks", "coldstart", "scale"]


# The sections that sign in or write: they work on a copy of the seeded database (Settings.work), so the seeded one
# stays as `dev seed` made it (BENCH_REUSE_DB reruns see the same data).
COPY_SECTIONS = ["detail", "queue", "create", "transitions", "email", "upload", "webhooks"]


SECTION_TITLES = {
    "page": "the page query (beian, PostGraphile, PostGraphile with foreign-key indexes, the pgbench ceiling)",
    "detail": "filing detail (`filing(id:)` with its whole tree)",
    "queue": "the review queue (`reviewQueue`)",
    "create": "createFiling",
    "transitions": "claimReview -> approvePreliminaryReview pairs, with their outbox rows",
    "email": "email dispatch into a local SMTP sink",
    "upload": "a 100 MB multipart upload (peak RSS growth)",
    "webhooks": "transition pairs with a webhook endpoint registered, then webhook dispatch to a local receiver",
    "coldstart": "cold start on the embedded defaults",
    "scale": "the page query at 10x the filings (BENCH_SCALE_FILINGS)",
}


@dataclass
class Settings:
    quick: bool
    only: list[str] | None
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
    postgraphile_fk: bool = True
    detail_filings: int = 200
    queue_page: int = 50
    pairs_serial: int = 100
    pairs_workers: int = 8
    pairs_per_worker: int = 75
    mail_messages: int = 1000
    upload_mib: int = 100
    scale_filings: int | None = None
    jwt_secret: str = "bench-only-signing-secret-0123456789abcdef"
    # Personal-data keys (base64 of 32 bytes): bench-only, the seed and the server must share them.
    pii_key: str = "YmVuY2gtb25seS1waWkta2V5LTAxMjM0NTY3ODlhYmM="
    pii_index_key: str = "YmVuY2gtb25seS1pbmRleC1rZXktMDEyMzQ1Njc4OWE="

    def runs(self, section: str) -> bool:
        """Whether this run takes the section: the ones --only names, or all (scale only with
        BENCH_SCALE_FILINGS)."""
        if self.only is not None:
            return section in self.only
        return section != "scale" or self.scale_filings is not None

    def sections(self) -> list[str]:
        return [section for section in SECTIONS if self.runs(section)]

    @property
    def work(self) -> Settings:
        """The copy of the seeded database the writing sections use."""
        return replace(self, db=f"{self.db}_w")

    @property
    def scale(self) -> Settings:
        """The scale section's second database, with 10x the filings (or BENCH_SCALE_FILINGS)."""
        return replace(self, db=f"{self.db}_scale", filings=self.scale_filings or 10 * self.filings)

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
        if only is not None:
            only = [name.strip() for name in only.split(",") if name.strip()]
            unknown = [name for name in only if name not in SECTIONS]
            if unknown or not only:
                raise Fail(f"--only takes sections among {', '.join(SECTIONS)} (comma-separated), not {unknown}")
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
            results=Path(os.environ.get("BENCH_RESULTS_DIR", str(BENCH / "results"))).resolve(),
            postgraphile_fk=env_flag("BENCH_POSTGRAPHILE_FK", True),
            detail_filings=env_int("BENCH_DETAIL_FILINGS", 50 if quick else 200),
            queue_page=env_int("BENCH_QUEUE_PAGE", 50),
            pairs_serial=env_int("BENCH_PAIRS_SERIAL", 10 if quick else 100),
            pairs_workers=env_int("BENCH_PAIRS_WORKERS", 8),
            pairs_per_worker=env_int("BENCH_PAIRS_PER_WORKER", 5 if quick else 75),
            mail_messages=env_int("BENCH_MAIL_MESSAGES", 100 if quick else 1000),
            upload_mib=env_int("BENCH_UPLOAD_MB", 100),
            scale_filings=env_int("BENCH_SCALE_FILINGS", 0) or None,
        )


# The page size and concurrency the targets of issue #10 are stated for: "the 50 newest filings", "concurrency 16".
TARGET_PAGE_SIZE = 50


TARGET_CONCURRENCY = 16


MIB = 1024 * 1024


class Fail(Exception):
    """A reason to stop the run, said to the user as it is."""


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


SECRET_VARIABLES = {"BEIAN_AUTH_JWT_SECRET", "BEIAN_PII_KEYS", "BEIAN_PII_INDEX_KEY"}


def beian_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a beian the run starts: on settings.db, the bench-only secrets and keys, quiet, no mail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEIAN_") and k != "RUST_LOG"}
    env.update({
        "BEIAN_DATABASE_URL": settings.db_url,
        "BEIAN_AUTH_JWT_SECRET": settings.jwt_secret,
        "BEIAN_PII_KEYS": '{bench="%s"}' % settings.pii_key,
        "BEIAN_PII_CURRENT_KEY": "bench",
        "BEIAN_PII_INDEX_KEY": settings.pii_index_key,
        "BEIAN_LOG_FILTER": "warn",
        "BEIAN_MAIL_DISPATCH": "false",
        "BEIAN_DATABASE_MAX_CONNECTIONS": str(settings.pool),
        "BEIAN_GRAPHQL_GRAPHIQL": "false",
    })
    if settings.max_complexity:
        env["BEIAN_GRAPHQL_MAX_COMPLEXITY"] = str(settings.max_complexity)
    env.update(extra)
    return env
