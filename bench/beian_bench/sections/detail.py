"""detail: filing(id:) with its whole tree, as the page tenant's reviewer would read it."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from ..dataset import Tenant
from ..load import measure_load
from ..pg import psql, quote_literal
from ..report import one_line
from ..server import Client, gid_of, graphql_body, reviewer_session, running_beian
from ..settings import TARGET_CONCURRENCY, Fail, Settings, say


def filing_detail(settings: Settings, results: dict, logs: Path, tenant: Tenant, postmaster: int | None) -> None:
    # A sample of the page tenant's filings in every state (md5 of the id: spread, and the same in every run).
    sample = psql(settings.db_url, f"SELECT id, status FROM filings WHERE tenant_id = {quote_literal(tenant.id)} "
                                   f"ORDER BY md5(id::text) LIMIT {settings.detail_filings}")
    if not sample:
        raise Fail(f"tenant {tenant.slug} has no filings for the detail section")
    statuses: dict[str, int] = {}
    for _, status in sample:
        statuses[status] = statuses.get(status, 0) + 1
    bodies = [graphql_body("beian-filing-detail.graphql", {"id": gid_of("Filing", fid)}, "BenchFilingDetail")
              for fid, _ in sample]
    bodies_file = logs / "bodies-filing-detail.jsonl"
    bodies_file.write_text("\n".join(bodies) + "\n")
    with running_beian(settings, logs, "detail") as server:
        auth = reviewer_session(settings, server.base_url, tenant)
        # Every filing of the sample answers without errors first; their mean size is the reference of the runs.
        client = Client(server.base_url, auth)
        sizes, shape = [], {"websites": 0, "attachments": 0, "events": 0, "checklist_items": 0, "sms_checks": 0}
        for body in bodies:
            status, raw = client.post_json(body.encode())
            answer = json.loads(raw)
            if status != 200 or answer.get("errors") or not answer.get("data"):
                raise Fail(f"filing detail answered with errors: {raw[:800]!r}")
            filing = answer["data"]["filing"]
            sizes.append(len(raw))
            shape["websites"] += len(filing["websites"])
            shape["attachments"] += len(filing["attachments"])
            shape["events"] += len(filing["events"])
            shape["checklist_items"] += len(filing["checklist"]["items"])
            shape["sms_checks"] += len(filing["smsChecks"])
        client.close()
        say(f"filing detail: {len(sample)} filings of {tenant.slug} ({statuses}) answer without errors, "
            f"{statistics.fmean(sizes):.0f} bytes on average; wrk at concurrency {TARGET_CONCURRENCY}")
        entry = measure_load(settings, peer="beian", proc=server.proc, url=server.url, auth=auth,
                             connections=TARGET_CONCURRENCY, postmaster=postmaster, bodies=(bodies_file, bodies_file),
                             check_errors=True, reference_bytes=statistics.fmean(sizes))
    say("  " + one_line(entry))
    results["filing_detail"] = {
        "query": "bench/queries/beian-filing-detail.graphql", "caller": "the page tenant's reviewer (session)",
        "filings": len(sample), "statuses": statuses, "mean_answer_bytes": round(statistics.fmean(sizes)),
        "per_filing": {k: round(v / len(sample), 2) for k, v in shape.items()}, "run": entry,
    }
