"""queue: the review queue, as the page tenant's reviewer."""

from __future__ import annotations

from pathlib import Path

from ..dataset import Tenant
from ..load import measure_load
from ..pg import psql_value, quote_literal
from ..report import one_line
from ..server import graphql, graphql_body, reviewer_session, running_beian
from ..settings import TARGET_CONCURRENCY, Settings, say


def review_queue(settings: Settings, results: dict, logs: Path, tenant: Tenant, postmaster: int | None) -> None:
    body_file = logs / "body-review-queue.json"
    body_file.write_text(graphql_body("beian-review-queue.graphql", {"first": settings.queue_page},
                                      "BenchReviewQueue"))
    mine = f"tenant_id = {quote_literal(tenant.id)}"
    waiting = int(psql_value(settings.db_url, f"SELECT count(*) FROM filings WHERE {mine} "
                                              "AND status IN ('PENDING_REVIEW', 'IN_REVIEW')"))
    with running_beian(settings, logs, "queue") as server:
        auth = reviewer_session(settings, server.base_url, tenant)
        data, answer_bytes = graphql(server.url, body_file.read_bytes(), auth)
        items = len(data["reviewQueue"]["edges"])
        say(f"review queue: {waiting} filings of {tenant.slug} wait or are in review; a page of "
            f"{settings.queue_page} answers {items} ({answer_bytes} bytes); wrk at concurrency {TARGET_CONCURRENCY}")
        entry = measure_load(settings, peer="beian", proc=server.proc, url=server.url, auth=auth,
                             connections=TARGET_CONCURRENCY, postmaster=postmaster, body_file=body_file,
                             check_errors=True, reference_bytes=answer_bytes)
    say("  " + one_line(entry))
    results["review_queue"] = {
        "query": "bench/queries/beian-review-queue.graphql", "caller": "the page tenant's reviewer (session)",
        "page_size": settings.queue_page, "items": items, "queue_length": waiting, "answer_bytes": answer_bytes,
        "run": entry,
    }
