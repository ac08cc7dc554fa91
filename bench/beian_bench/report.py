"""The report of a run: the machine, and each section's figures as text (the console) or Markdown (BENCHMARKS.md)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import textwrap
from pathlib import Path

from .pg import psql_value
from .postgraphile import postgraphile_version
from .settings import MIB, ROOT, TARGET_CONCURRENCY, Fail, Settings
from .targets import find_run


def fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:.{digits}f}"


def one_line(entry: dict) -> str:
    stmts = entry.get("sql_statements_per_request")
    pg = entry["cpu_per_1000"].get("postgres_s")
    return (f"{entry['req_s']:.1f} req/s, p50 {fmt(entry['p50_ms'])} p90 {fmt(entry['p90_ms'])} "
            f"p99 {fmt(entry['p99_ms'])} ms, {fmt(stmts, 2)} SQL/request, "
            f"postgres {fmt(pg, 2)} CPU-s/1000 req, errors {entry['errors']}"
            + (" — ANSWERS LOOK WRONG (too short)" if entry.get("answers_look_wrong") else "")
            + (" — NO REQUEST COMPLETED" if not entry["requests"] else ""))


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
    out = [part for write in PARTS for part in write(settings, results, markdown)]
    if markdown:
        return "\n\n".join(out)
    # Plain text: long sentences wrapped, tables and lists as they are.
    return "\n".join(part if "\n" in part or len(part) <= 118 else textwrap.fill(part, 118) for part in out)


def heading(markdown: bool):
    return (lambda text: f"### {text}") if markdown else (lambda text: f"\n== {text}")


def _machine(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """The machine, the build and the command."""
    out: list[str] = []
    h = heading(markdown)
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
    return out


def _dataset(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """The data set."""
    out: list[str] = []
    h = heading(markdown)
    if results.get("dataset"):
        out.append(h("Data set"))
        d = results["dataset"]
        out.append(f"{d['tenants']} tenants, {d['filings']} filings, {d['websites']} websites, {d['attachments']} "
                   f"materials, {d['filing_events']} events ({d['database_size']}); the page tenant "
                   f"{d['page_tenant']['slug']} has {d['page_tenant']['filings']} filings.")
    return out


def _page_runs(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """The page query's runs, and beian's req/s over each peer's."""
    out: list[str] = []
    h = heading(markdown)
    runs = results.get("page_query", {}).get("runs", [])
    if runs:
        out.append(h("Page query: beian vs PostGraphile vs the pgbench ceiling"))
        rows = []
        peers = ["beian", "postgraphile", "postgraphile+fk", "pgbench"]
        for entry in sorted(runs, key=lambda e: (e["page_size"], e.get("requested_concurrency", e["concurrency"]),
                                                 peers.index(e["peer"]) if e["peer"] in peers else len(peers))):
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
                   "one request as one transaction: its req/s is the ceiling. postgraphile+fk: PostGraphile again "
                   "after single-column indexes on "
                   + (", ".join(results["page_query"].get("fk_indexes") or []) or "(none were missing)")
                   + " (dropped afterwards).")
        ratios = []
        for size in settings.page_sizes:
            for conc in settings.concurrency:
                ours = find_run(results, "beian", size, conc)
                cells = []
                for peer in ("postgraphile", "postgraphile+fk", "pgbench"):
                    theirs = find_run(results, peer, size, conc)
                    if not ours or not theirs:
                        cells.append("-")
                    elif theirs["req_s"]:
                        cells.append(f"{ours['req_s'] / theirs['req_s']:.2f}")
                    else:
                        cells.append("∞ (0 req/s)")
                ratios.append([str(size), str(conc)] + cells)
        if ratios:
            out.append("beian's req/s over each peer's (the 5x target reads plain PostGraphile; the ceiling target "
                       "pgbench):")
            out.append(table(["page", "conc", "/ postgraphile", "/ postgraphile+fk", "/ pgbench"], ratios, markdown))
    return out


def _captured_sql(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """The SQL of one page request, as captured."""
    out: list[str] = []
    h = heading(markdown)
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
    return out


def _reads(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """Filing detail, review queue and createFiling."""
    out: list[str] = []
    h = heading(markdown)
    reads = [(title, results[key]["run"]) for key, title in (("filing_detail", "filing detail"),
                                                              ("review_queue", "review queue"),
                                                              ("create_filing", "createFiling")) if key in results]
    if reads:
        out.append(h(f"Filing detail, review queue, createFiling (wrk, concurrency {TARGET_CONCURRENCY})"))
        rows = []
        for title, entry in reads:
            c = entry["cpu_per_1000"]
            flags = str(entry["errors"]) + (f" + {entry['graphql_errors']} GraphQL" if entry.get("graphql_errors")
                                             else "")
            flags += " SHORT ANSWERS" if entry.get("answers_look_wrong") else ""
            flags += " NONE COMPLETED" if not entry["requests"] else ""
            rows.append([title, f"{entry['req_s']:.1f}", fmt(entry["p50_ms"], 2), fmt(entry["p90_ms"], 2),
                         fmt(entry["p99_ms"], 2), fmt(c.get("server_s"), 3), fmt(c.get("postgres_s"), 3),
                         fmt(c.get("load_generator_s"), 3),
                         ("≈" if entry.get("sql_statements_per_request_approximate") and entry["requests"] else "")
                         + fmt(entry.get("sql_statements_per_request"), 2), flags])
        out.append(table(["operation", "req/s", "p50 ms", "p90 ms", "p99 ms", "server CPU-s/1k", "postgres CPU-s/1k",
                          "loadgen CPU-s/1k", "SQL/req", "errors"], rows, markdown))
        notes = []
        if "filing_detail" in results:
            d = results["filing_detail"]
            states = ", ".join(f"{k} {v}" for k, v in sorted(d["statuses"].items()))
            notes.append(f"Filing detail: `bench/queries/beian-filing-detail.graphql` as the page tenant's reviewer, "
                         f"rotating through {d['filings']} of its filings ({states}); "
                         f"per filing on average {d['per_filing']['websites']} websites, "
                         f"{d['per_filing']['attachments']} materials, {d['per_filing']['events']} events; "
                         f"{d['mean_answer_bytes']} bytes an answer.")
        if "review_queue" in results:
            q = results["review_queue"]
            notes.append(f"Review queue: `bench/queries/beian-review-queue.graphql`, first {q['page_size']}, as the "
                         f"reviewer; {q['items']} items a page ({q['queue_length']} filings waiting or in review), "
                         f"{q['answer_bytes']} bytes.")
        if "create_filing" in results:
            cf = results["create_filing"]
            v = cf["run"]["verification"]
            duplicate = (f"refused ({cf['duplicate_input']['error']})" if cf["duplicate_input"]["refused"]
                         else "accepted")
            notes.append(f"createFiling: `bench/queries/beian-create-filing.graphql` with the API key, a different "
                         f"valid subject (1-3 websites) in every request; the same input sent twice is {duplicate}. "
                         f"Filings of the tenant {v['filings_before']} -> {v['filings_after']}: {v['created']} created "
                         f"for {v['answered_ok']} successful answers ({v['created_in_flight']} by requests in flight "
                         f"when wrk stopped): {'verified' if v['verified'] else 'NOT VERIFIED'}"
                         + (f"; inputs reused {cf['run']['bodies_reused']} times" if cf["run"].get("bodies_reused")
                            else "") + ".")
        out.append(" ".join(notes))
    return out


def _transitions(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """The transition pairs."""
    out: list[str] = []
    h = heading(markdown)
    tr = results.get("transitions")
    if tr and tr.get("phases"):
        out.append(h("Transition pairs: claimReview -> approvePreliminaryReview"))
        rows = []
        for e in tr["phases"]:
            rows.append([e["phase"], str(e["workers"]), str(e["pairs"]), f"{e['pairs_per_s']:.1f}",
                         f"{fmt(e['claim']['p50_ms'], 2)} / {fmt(e['claim']['p99_ms'], 2)}",
                         f"{fmt(e['approve']['p50_ms'], 2)} / {fmt(e['approve']['p99_ms'], 2)}",
                         fmt(e["sql_statements_per_pair"], 1), fmt(e["outbox_rows_per_pair"], 2),
                         fmt(e["cpu_per_1000_pairs"].get("server_s"), 2),
                         fmt(e["cpu_per_1000_pairs"].get("postgres_s"), 2), str(e["failed"])])
        out.append(table(["phase", "workers", "pairs", "pairs/s", "claim p50/p99 ms", "approve p50/p99 ms",
                          "SQL/pair", "outbox rows/pair", "server CPU-s/1k pairs", "postgres CPU-s/1k pairs",
                          "failed"], rows, markdown))
        templates = {}
        for e in tr["phases"]:
            for t, n in e["outbox_rows_by_template"].items():
                templates[t] = templates.get(t, 0) + n
        out.append(f"{tr['pair']}; mail dispatch off. Outbox rows written: "
                   + ", ".join(f"{t} {n}" for t, n in templates.items()) + ".")
    return out


def _email(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """Email dispatch."""
    out: list[str] = []
    h = heading(markdown)
    mail = results.get("email_dispatch")
    if mail and "sink" in mail:
        out.append(h("Email dispatch into a local SMTP sink"))
        sink = mail["sink"]
        queued = ", ".join(f"{t} {n}" for t, n in mail["queued_by_template"].items())
        agree = "the sink and the outbox agree" if mail["consistent"] else "THE SINK AND THE OUTBOX DISAGREE"
        out.append(f"{mail['queued_before']} queued messages ({queued}); "
                   f"{sink['messages']} reached the sink in {mail['seconds_first_to_last']:.2f} s from the first to "
                   f"the last: {fmt(mail['messages_per_s'])} messages/s ({fmt(mail['messages_per_s_from_spawn'])}/s "
                   f"from the spawn of beian, ready after {mail['ready_after_s']:.2f} s). {mail['sent']} marked SENT, "
                   f"{mail['failed']} FAILED, {mail['still_queued']} still queued; {sink['distinct_message_ids']} "
                   f"distinct Message-IDs at the sink, {sink['duplicates']} duplicates, {sink['smtp_sessions']} SMTP "
                   f"sessions: {agree}. "
                   f"Each message took {fmt(sink['data_phase']['p50_ms'], 1)} ms (p50; p99 "
                   f"{fmt(sink['data_phase']['p99_ms'], 1)}) from the sink's 354 to the end of its DATA. "
                   f"{fmt(mail['sql_statements_per_message'], 1)} SQL statements and "
                   f"{fmt(mail['cpu_per_1000_messages'].get('server_s'), 2)} beian CPU-s, "
                   f"{fmt(mail['cpu_per_1000_messages'].get('postgres_s'), 2)} postgres CPU-s per 1000 messages. "
                   f"{mail['dispatcher']}.")
    return out


def _webhooks(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """Transition pairs with a webhook endpoint, and webhook dispatch."""
    out: list[str] = []
    h = heading(markdown)
    wh = results.get("webhooks")
    if not wh or not wh.get("phases"):
        return out
    out.append(h("Webhooks: transition pairs with an endpoint registered, and dispatch to a local receiver"))
    without = {e["phase"]: e for e in (results.get("transitions") or {}).get("phases", [])}
    rows = []
    for e in wh["phases"]:
        base = without.get(e["phase"])
        rows.append([e["phase"], str(e["workers"]), str(e["pairs"]), f"{e['pairs_per_s']:.1f}",
                     fmt(base["sql_statements_per_pair"], 1) if base else "-", fmt(e["sql_statements_per_pair"], 1),
                     fmt(base["cpu_per_1000_pairs"].get("server_s"), 2) if base else "-",
                     fmt(e["cpu_per_1000_pairs"].get("server_s"), 2),
                     fmt(base["cpu_per_1000_pairs"].get("postgres_s"), 2) if base else "-",
                     fmt(e["cpu_per_1000_pairs"].get("postgres_s"), 2), str(e["failed"])])
    out.append(table(["phase", "workers", "pairs", "pairs/s", "SQL/pair without", "SQL/pair with",
                      "server CPU-s/1k without", "with", "postgres CPU-s/1k without", "with", "failed"], rows,
                     markdown))
    d = wh.get("dispatch")
    if d:
        out.append(f"\"Without\": this run's transitions section (no endpoint); \"with\": the same pairs on other filings "
                   f"with one endpoint that wants every event (its delivery rows are written by a trigger in the pair's "
                   f"transactions; dispatch off). Then {d['pending_before']} pending deliveries reached the receiver "
                   f"in {d['seconds_first_to_last']:.2f} s from the first to the last: "
                   f"{fmt(d['deliveries_per_s'])} deliveries/s ({fmt(d['deliveries_per_s_from_spawn'])}/s from the "
                   f"spawn of beian, ready after {d['ready_after_s']:.2f} s); {d['delivered']} marked DELIVERED, "
                   f"{d['failed']} FAILED, {d['still_pending']} still pending; {d['requests']} requests with "
                   f"{d['distinct_webhook_ids']} distinct webhook-ids. "
                   f"{fmt(d['sql_statements_per_delivery'], 1)} SQL statements and "
                   f"{fmt(d['cpu_per_1000_deliveries'].get('server_s'), 2)} beian CPU-s, "
                   f"{fmt(d['cpu_per_1000_deliveries'].get('postgres_s'), 2)} postgres CPU-s per 1000 deliveries. "
                   f"{d['dispatcher']}.")
    return out


def _upload(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """The multipart upload."""
    out: list[str] = []
    h = heading(markdown)
    up = results.get("upload")
    if up:
        out.append(h(f"A {up['size_bytes'] // MIB} MiB multipart upload"))
        out.append(f"uploadAttachment (FACE_VIDEO, video/mp4) streamed by the client in {up['seconds']:.2f} s "
                   f"({fmt(up['mib_per_s'])} MiB/s): {'stored and checked (size, SHA-256)' if up['ok'] else 'FAILED'}. "
                   f"beian's VmRSS {up['rss_before_mib']:.1f} MiB before, VmHWM {up['hwm_after_mib']:.1f} MiB after "
                   f"(peak growth {up['peak_rss_growth_mib']:.1f} MiB; sampled every 20 ms: "
                   f"{fmt(up['sampled_peak_rss_mib'])} MiB at most), VmRSS {up['rss_after_mib']:.1f} MiB after; "
                   f"{up['server_cpu_s']:.2f} CPU-s. {up['limit']}; {up['storage']}.")
    return out


def _scale(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """The page query at 10x the filings."""
    out: list[str] = []
    h = heading(markdown)
    sc = results.get("scale")
    if sc and len(sc.get("runs", [])) == 2:
        out.append(h(f"Page query at {sc['runs'][1]['filings']} against {sc['runs'][0]['filings']} filings "
                     f"(beian, page {sc['page_size']}, concurrency {sc['concurrency']})"))
        rows = [[str(r["filings"]), str(r["page_tenant_filings"]), r["database_size"], f"{r['req_s']:.1f}",
                 fmt(r["p50_ms"], 2), fmt(r["p90_ms"], 2), fmt(r["p99_ms"], 2),
                 fmt(r["cpu_per_1000"].get("server_s"), 3), fmt(r["cpu_per_1000"].get("postgres_s"), 3),
                 fmt(r.get("sql_statements_per_request"), 2), str(r["errors"])] for r in sc["runs"]]
        out.append(table(["filings", "page tenant's", "database", "req/s", "p50 ms", "p90 ms", "p99 ms",
                          "server CPU-s/1k", "postgres CPU-s/1k", "SQL/req", "errors"], rows, markdown))
        out.append(f"Ratios, {sc['runs'][1]['filings']} over {sc['runs'][0]['filings']}: "
                   f"p50 {fmt(sc['ratio_p50'], 3)}, "
                   f"p99 {fmt(sc['ratio_p99'], 3)} (the target reads p99), req/s {fmt(sc['ratio_req_s'], 3)}.")
    return out


def _cold_start(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """Cold start."""
    out: list[str] = []
    h = heading(markdown)
    cold = results.get("cold_start")
    if cold:
        out.append(h("Cold start on the embedded defaults"))
        out.append(f"median of {len(cold['runs'])}: /readyz 200 after {cold['median_ready_ms']:.0f} ms, first GraphQL "
                   f"answer after {cold['median_first_answer_ms']:.0f} ms ({cold['how']}).")
    return out


def _targets(settings: Settings, results: dict, markdown: bool) -> list[str]:
    """The targets, and what this run left out."""
    out: list[str] = []
    h = heading(markdown)
    out.append(h("Targets"))
    out.append(table(["target", "measured", "threshold", "status"],
                     [[t["target"], json.dumps(t["measured"]) if t["measured"] is not None else "-", t["threshold"],
                       t["status"] + (f" ({t['note']})" if t["note"] else "")] for t in results["targets"]], markdown))
    if results.get("not_run"):
        out.append(h("Not run in this run"))
        out.append("\n".join(("- " if markdown else "  ") + f"{item['what']} ({item['why']})"
                             for item in results["not_run"]))
    return out


# The report's parts, in order.
PARTS = [_machine, _dataset, _page_runs, _captured_sql, _reads, _transitions, _email, _upload, _webhooks, _scale,
         _cold_start,
         _targets]
