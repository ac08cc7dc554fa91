"""transitions: claimReview then approvePreliminaryReview, by the page tenant's reviewer, on seeded filings waiting
for the preliminary review; serial, then concurrent; with the outbox rows each pair writes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from ..dataset import Tenant
from ..load import latency_summary, per_thousand
from ..pg import psql, psql_value, quote_literal, reset_statements, statement_calls
from ..proc import cpu_seconds, postgres_cpu_seconds
from ..report import fmt
from ..server import Beian, Client, gid_of, query_text, reviewer_session, running_beian
from ..settings import Fail, Settings, say


def pending_filings(settings: Settings, tenant: Tenant) -> list[tuple[str, int]]:
    rows = psql(settings.db_url, f"SELECT id, version FROM filings WHERE tenant_id = {quote_literal(tenant.id)} AND "
                                 "status = 'PENDING_REVIEW' AND reviewer_id IS NULL ORDER BY submitted_at, id")
    return [(fid, int(version)) for fid, version in rows]


def pair_worker(base_url: str, auth: str, items: list[tuple[str, int]], out: list) -> None:
    client = Client(base_url, auth)
    claim, approve = query_text("beian-claim-review.graphql"), query_text("beian-approve-preliminary.graphql")
    try:
        for fid, version in items:
            filing = gid_of("Filing", fid)
            started = time.perf_counter()
            answer = client.call(claim, {"input": {"filingId": filing, "version": version}})
            claimed = time.perf_counter()
            if answer.get("errors"):
                out.append({"ok": False, "step": "claimReview", "error": json.dumps(answer["errors"])[:300]})
                continue
            answer = client.call(approve, {"input": {"filingId": filing,
                                                     "version": answer["data"]["claimReview"]["version"]}})
            approved = time.perf_counter()
            if answer.get("errors"):
                out.append({"ok": False, "step": "approvePreliminaryReview",
                            "error": json.dumps(answer["errors"])[:300]})
                continue
            out.append({"ok": True, "claim_ms": (claimed - started) * 1000, "approve_ms": (approved - claimed) * 1000,
                        "pair_ms": (approved - started) * 1000, "status": answer["data"]["approvePreliminaryReview"]
                        ["status"]})
    except Exception as error:  # noqa: BLE001 (reported with the phase's figures)
        out.append({"ok": False, "step": "client", "error": repr(error)})
    finally:
        client.close()


def outbox_rows(settings: Settings, filing_ids: list[str]) -> dict[str, int]:
    if not filing_ids:
        return {}
    listed = ", ".join(quote_literal(f) for f in filing_ids)
    rows = psql(settings.db_url, f"SELECT template, count(*) FROM outbox_messages WHERE filing_id IN ({listed}) "
                                 "GROUP BY template ORDER BY template")
    return {template: int(count) for template, count in rows}


def pair_phase(settings: Settings, server: Beian, auth: str, items: list[tuple[str, int]], workers: int,
               postmaster: int | None, name: str) -> dict:
    """`workers` threads, each with its own connection and its own share of `items`, doing the pair on each."""
    ids = [fid for fid, _ in items]
    before_rows = outbox_rows(settings, ids)
    before_total = int(psql_value(settings.db_url, "SELECT count(*) FROM outbox_messages"))
    reset_statements(settings)
    outcomes: list[list] = [[] for _ in range(workers)]
    threads = [threading.Thread(target=pair_worker, args=(server.base_url, auth, items[i::workers], outcomes[i]))
               for i in range(workers)]
    before = (cpu_seconds(server.proc.pid), postgres_cpu_seconds(postmaster), time.perf_counter())
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = (cpu_seconds(server.proc.pid), postgres_cpu_seconds(postmaster), time.perf_counter())
    time.sleep(0.3)
    calls, statements = statement_calls(settings)
    after_rows = outbox_rows(settings, ids)
    after_total = int(psql_value(settings.db_url, "SELECT count(*) FROM outbox_messages"))
    done = [o for outcome in outcomes for o in outcome if o["ok"]]
    failed = [o for outcome in outcomes for o in outcome if not o["ok"]]
    seconds = after[2] - before[2]
    written = {t: after_rows.get(t, 0) - before_rows.get(t, 0) for t in sorted(set(after_rows) | set(before_rows))}
    rows = sum(written.values())
    cpu = {"server_s": after[0] - before[0], "postgres_s": None if before[1] is None else after[1] - before[1]}
    entry = {
        "phase": name, "workers": workers, "pairs": len(done), "failed": len(failed),
        "failures": failed[:5], "seconds": round(seconds, 3), "pairs_per_s": len(done) / seconds if seconds else 0.0,
        "claim": latency_summary([o["claim_ms"] for o in done]),
        "approve": latency_summary([o["approve_ms"] for o in done]),
        "pair": latency_summary([o["pair_ms"] for o in done]),
        "end_states": sorted({o["status"] for o in done}),
        "sql_statements_per_pair": calls / len(done) if done else None,
        "sql_statements": statements[:40],
        "outbox_rows": rows, "outbox_rows_per_pair": rows / len(done) if done else None,
        "outbox_rows_by_template": written, "outbox_rows_all_filings": after_total - before_total,
        "cpu": cpu, "cpu_per_1000_pairs": per_thousand(cpu, len(done)),
    }
    return entry


def pair_line(entry: dict) -> str:
    return (f"{entry['pairs']} pairs ({entry['workers']} worker{'s' if entry['workers'] > 1 else ''}) in "
            f"{entry['seconds']:.2f} s: {entry['pairs_per_s']:.1f} pairs/s; claimReview p50 "
            f"{fmt(entry['claim']['p50_ms'])} p99 {fmt(entry['claim']['p99_ms'])} ms, approvePreliminaryReview p50 "
            f"{fmt(entry['approve']['p50_ms'])} p99 {fmt(entry['approve']['p99_ms'])} ms; "
            f"{fmt(entry['sql_statements_per_pair'], 1)} SQL/pair; {fmt(entry['outbox_rows_per_pair'], 2)} outbox "
            f"rows/pair {entry['outbox_rows_by_template']}; failed {entry['failed']}")


def transitions(settings: Settings, results: dict, logs: Path, tenant: Tenant, postmaster: int | None) -> None:
    pending = pending_filings(settings, tenant)
    serial = pending[:settings.pairs_serial]
    concurrent = pending[len(serial):len(serial) + settings.pairs_workers * settings.pairs_per_worker]
    wanted = settings.pairs_serial + settings.pairs_workers * settings.pairs_per_worker
    if len(serial) + len(concurrent) < wanted:
        say(f"warning: {tenant.slug} has {len(pending)} filings waiting for review, fewer than the {wanted} pairs "
            "asked for (BENCH_PAIRS_*): the pairs are fewer")
    if not serial:
        raise Fail(f"{tenant.slug} has no filing waiting for the preliminary review (PENDING_REVIEW)")
    section = results["transitions"] = {
        "pair": "claimReview (PENDING_REVIEW -> IN_REVIEW) then approvePreliminaryReview (IN_REVIEW -> "
                "SMS_VERIFICATION), by the page tenant's reviewer (session), on seeded filings waiting for review",
        "mail_dispatch": "off (the messages stay QUEUED for the email section)", "phases": [],
    }
    with running_beian(settings, logs, "transitions") as server:
        auth = reviewer_session(settings, server.base_url, tenant)
        for name, items, workers in (("serial", serial, 1), ("concurrent", concurrent, settings.pairs_workers)):
            if not items:
                continue
            say(f"transition pairs, {name}: {len(items)} filings, {workers} worker(s)")
            entry = pair_phase(settings, server, auth, items, workers, postmaster, name)
            section["phases"].append(entry)
            say("  " + pair_line(entry))
            if entry["failed"]:
                say(f"  FAILED pairs, e.g. {entry['failures'][0]}")
