"""The load generators: wrk against a server (with its CPU and SQL), pgbench for the ceiling."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from .pg import psql_value, reset_statements, statement_calls
from .proc import children_cpu, cpu_seconds, postgres_cpu_seconds, rss_mib, run
from .settings import BENCH, Fail, Settings


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def latency_summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"p50_ms": percentile(ordered, 50), "p90_ms": percentile(ordered, 90), "p99_ms": percentile(ordered, 99),
            "mean_ms": statistics.fmean(ordered) if ordered else None, "max_ms": ordered[-1] if ordered else None}


def wrk(settings: Settings, url: str, body_file: Path | None, auth: str | None, connections: int, seconds: int,
        *, bodies_file: Path | None = None, check_errors: bool = False) -> dict:
    """One wrk run: `body_file` sent on every request, or the bodies of `bodies_file` (one per line) in turn; with
    `check_errors`, the answers carrying GraphQL errors are counted (graphql_errors)."""
    threads = max(1, min(settings.threads, connections))
    env = dict(os.environ, BENCH_BODY=str(body_file or ""), BENCH_BODIES=str(bodies_file or ""),
               BENCH_NTHREADS=str(threads), BENCH_CHECK_ERRORS="1" if check_errors else "0", BENCH_AUTH=auth or "")
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
           "-s", str(BENCH / "wrk/graphql.lua"), url]
    result = run(cmd, env=env, timeout=seconds + 120)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise Fail(f"wrk printed no BENCH_JSON line:\n{result.stdout}\n{result.stderr}")


def measure_load(settings: Settings, *, peer: str, proc: subprocess.Popen, url: str, auth: str | None,
                 connections: int, postmaster: int | None, body_file: Path | None = None,
                 bodies: tuple[Path, Path] | None = None, check_errors: bool = False,
                 reference_bytes: float | None = None, keep_statements: int = 40,
                 before_measured=None) -> dict:
    """wrk against a server: warm-up, then the measured run, with the server's and PostgreSQL's CPU and the SQL
    statements (pg_stat_statements of settings.db) of the measured run. `bodies` (warm-up file, measured file) makes
    wrk rotate through one body per line instead of sending `body_file` every time."""
    warm_bodies, measured_bodies = bodies if bodies else (None, None)
    wrk(settings, url, body_file, auth, connections, settings.warmup, bodies_file=warm_bodies,
        check_errors=check_errors)
    if before_measured is not None:
        before_measured()
    reset_statements(settings)
    before = (cpu_seconds(proc.pid), postgres_cpu_seconds(postmaster), children_cpu(), time.monotonic())
    out = wrk(settings, url, body_file, auth, connections, settings.duration, bodies_file=measured_bodies,
              check_errors=check_errors)
    after = (cpu_seconds(proc.pid), postgres_cpu_seconds(postmaster), children_cpu(), time.monotonic())
    time.sleep(0.5)  # requests still in flight when wrk stopped finish their SQL
    calls, statements = statement_calls(settings)
    requests = out["requests"]
    seconds = out["duration_us"] / 1e6
    errors = sum(out[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_status", "errors_timeout"))
    mean_bytes = out["bytes"] / requests if requests else 0
    # An answer with GraphQL errors is still HTTP 200, but far smaller than the page: compare with the checked one.
    short = bool(reference_bytes) and requests > 0 and mean_bytes < 0.9 * reference_bytes
    cpu = {
        "server_s": after[0] - before[0],
        "postgres_s": None if before[1] is None else after[1] - before[1],
        "load_generator_s": after[2] - before[2],
    }
    return {
        "peer": peer, "concurrency": connections, "requests": requests,
        "seconds": round(seconds, 3), "req_s": requests / seconds if seconds else 0.0,
        "p50_ms": out["p50_us"] / 1000, "p90_ms": out["p90_us"] / 1000, "p99_ms": out["p99_us"] / 1000,
        "mean_ms": out["latency_mean_us"] / 1000, "max_ms": out["latency_max_us"] / 1000,
        "errors": errors, "graphql_errors": out.get("graphql_errors") if check_errors else None,
        "bodies_reused": out.get("bodies_wrapped", 0) if bodies else None,
        "mean_response_bytes": round(mean_bytes), "answers_look_wrong": short,
        "cpu": cpu, "cpu_per_1000": per_thousand(cpu, requests), "cores_used": cores(cpu, after[3] - before[3]),
        "sql_statements_per_request": calls / requests if requests else None,
        # Requests still in flight when wrk stops add their SQL but are not counted: at most `connections` of them.
        "sql_statements_per_request_approximate": requests < 50 * connections,
        "sql_statements": statements[:keep_statements],
        "rss_mib": rss_mib(proc.pid),
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
