"""`python3 -m beian_bench` (from bench/, as bench/run.sh starts it): the whole run, section after section, then the
targets and the report."""

from __future__ import annotations

import json
import shutil
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path

from .dataset import dataset_facts, make_work_database, prepare_database, seed_state_path
from .pg import drop_database, ensure_pg_stat_statements, postmaster_pid
from .proc import stop_all
from .report import build_kind, machine_facts, report
from .sections.coldstart import cold_start
from .sections.create import create_filings
from .sections.detail import filing_detail
from .sections.email import email_dispatch
from .sections.page import page_query
from .sections.queue import review_queue
from .sections.scale import scale_section
from .sections.transitions import transitions
from .sections.upload import upload
from .sections.webhooks import webhooks
from .settings import COPY_SECTIONS, SECTION_TITLES, SECTIONS, Fail, Settings, say
from .targets import evaluate_targets

# The sections that sign in or write, in the order of the full run: they work on a copy of the seeded database.
ON_COPY = [("detail", filing_detail), ("queue", review_queue), ("create", create_filings),
           ("transitions", transitions), ("email", email_dispatch), ("upload", upload), ("webhooks", webhooks)]
assert [name for name, _ in ON_COPY] == COPY_SECTIONS


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
                   + (f" --only {','.join(settings.only)}" if settings.only else ""),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in settings.__dict__.items()
                     if k != "jwt_secret"},
    }
    sections = settings.sections()
    needs_db = any(section != "coldstart" for section in sections)
    if needs_db:
        ensure_pg_stat_statements(settings)
    results["machine"] = machine_facts(settings)
    results["sections"] = sections
    try:
        if needs_db:
            tenants = prepare_database(settings)
            tenant = tenants[0]
            results["dataset"] = dataset_facts(settings, tenant)
            say(f"data set: {results['dataset']}")
            postmaster = postmaster_pid(settings)
            if postmaster is None:
                say("warning: PostgreSQL's postmaster pid is not readable here; its CPU is not measured")
        if settings.runs("page"):
            page_query(settings, results, logs, tenant, postmaster)
        if any(settings.runs(section) for section in COPY_SECTIONS):
            # These sections sign in and write: they work on a copy, so the seeded database stays as it was (and as
            # reruns expect).
            work = make_work_database(settings)
            for name, section in ON_COPY:
                if settings.runs(name):
                    section(work, results, logs, tenant, postmaster)
        if settings.runs("coldstart"):
            cold_start(settings, results, logs)
        if settings.runs("scale"):
            scale_section(settings, results, logs, tenant, postmaster)
    finally:
        stop_all()
        if needs_db:
            drop_database(settings, settings.work.db)
            if not settings.keep_db:
                drop_database(settings, settings.db)
                seed_state_path(settings).unlink(missing_ok=True)
                if settings.runs("scale"):
                    drop_database(settings, settings.scale.db)
                    seed_state_path(settings.scale).unlink(missing_ok=True)
            drop_database(settings, settings.stats_db)
    results["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results["targets"] = evaluate_targets(settings, results)
    results["not_run"] = [{"id": section, "what": SECTION_TITLES[section],
                           "why": ("set BENCH_SCALE_FILINGS (about 6 minutes of seeding at 1M filings) or --only scale"
                                   if section == "scale" and settings.only is None else "not among --only")}
                          for section in SECTIONS if section not in sections]
    (settings.results / "last-run.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (settings.results / "last-run.md").write_text(report(settings, results, markdown=True) + "\n")
    print(report(settings, results, markdown=False))
    print(f"\n[bench] results: {settings.results / 'last-run.json'} and last-run.md (Markdown for BENCHMARKS.md)")
    missed = [t["id"] for t in results["targets"] if t["status"] == "MISS"]
    if missed:
        print(f"[bench] targets MISSED: {', '.join(missed)} (when recording the run, BENCHMARKS.md says why each "
              "was missed and what would close it)")
    return 0


def entry() -> None:
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


if __name__ == "__main__":
    entry()
