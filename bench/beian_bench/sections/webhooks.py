"""webhooks: what the event stream costs a transition pair with a webhook endpoint registered, and how fast the
webhook dispatcher delivers the resulting events to a local receiver."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..dataset import Tenant
from ..load import latency_summary, per_thousand
from ..pg import psql, psql_value, quote_literal, reset_statements, statement_calls
from ..proc import cpu_seconds, postgres_cpu_seconds
from ..report import fmt
from ..server import Client, running_beian, staff_session
from ..settings import Fail, Settings, say
from .transitions import pair_line, pair_phase, pending_filings


class Receiver:
    """An HTTP server on loopback that answers 200 to every POST at once and records when each arrived and its
    webhook-id (it does not verify signatures: the tests do, with the reference library)."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []
        lock = threading.Lock()
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("content-length", "0")))
                with lock:
                    arrivals.append((time.monotonic(), self.headers.get("webhook-id", "")))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def delivery_status(settings: Settings) -> dict[str, int]:
    rows = psql(settings.db_url, "SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
    return {status: int(count) for status, count in rows}


def webhooks(settings: Settings, results: dict, logs: Path, tenant: Tenant, postmaster: int | None) -> None:
    section = results["webhooks"] = {"phases": []}
    receiver = Receiver()
    receiver.start()
    private = {"BEIAN_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true"}
    try:
        pending = pending_filings(settings, tenant)
        serial = pending[:settings.pairs_serial]
        concurrent = pending[len(serial):len(serial) + settings.pairs_workers * settings.pairs_per_worker]
        if not serial:
            raise Fail(f"{tenant.slug} has no filing left waiting for the preliminary review (PENDING_REVIEW)")
        # Transition pairs with an endpoint that wants every event: the delivery rows are written in the pairs'
        # transactions; the dispatcher is off, so the pairs pay for writing them and nothing else.
        with running_beian(settings, logs, "webhook-pairs", BEIAN_WEBHOOKS_DISPATCH="false", **private) as server:
            admin = staff_session(settings, server.base_url, tenant, "ADMIN")
            client = Client(server.base_url, admin)
            created = client.data("mutation($url: String!) { createWebhookEndpoint(input: { url: $url, "
                                  "description: \"bench\" }) { endpoint { id } } }",
                                  {"url": f"http://127.0.0.1:{receiver.port}/hook"})
            client.close()
            section["endpoint"] = created["createWebhookEndpoint"]["endpoint"]["id"]
            reviewer = staff_session(settings, server.base_url, tenant, "REVIEWER")
            for name, items, workers in (("serial", serial, 1), ("concurrent", concurrent, settings.pairs_workers)):
                if not items:
                    continue
                say(f"transition pairs with a webhook endpoint, {name}: {len(items)} filings, {workers} worker(s)")
                entry = pair_phase(settings, server, reviewer, items, workers, postmaster, name)
                tenant_events = int(psql_value(settings.db_url, "SELECT count(*) FROM webhook_deliveries WHERE "
                                                                f"tenant_id = {quote_literal(tenant.id)}"))
                entry["deliveries_queued_so_far"] = tenant_events
                section["phases"].append(entry)
                say("  " + pair_line(entry))
        # The dispatcher delivers what the pairs queued.
        before = delivery_status(settings)
        due = before.get("PENDING", 0)
        if not due:
            raise Fail("no webhook delivery is pending: nothing to dispatch")
        say(f"webhook dispatch: {due} pending deliveries to a local receiver (port {receiver.port})")
        reset_statements(settings)
        postgres_before = postgres_cpu_seconds(postmaster)
        timeout = 120 + due / 10
        spawned = time.monotonic()
        with running_beian(settings, logs, "webhooks", BEIAN_WEBHOOKS_DISPATCH="true", **private) as server:
            ready = time.monotonic()
            status = delivery_status(settings)
            while status.get("PENDING", 0) > 0:
                if time.monotonic() - spawned > timeout:
                    say(f"  warning: {status.get('PENDING', 0)} deliveries still pending after {timeout:.0f} s")
                    break
                if server.proc.poll() is not None:
                    raise Fail(f"beian exited while dispatching webhooks; see {server.log}")
                time.sleep(0.2)
                status = delivery_status(settings)
            server_cpu = cpu_seconds(server.proc.pid)
            postgres_after = postgres_cpu_seconds(postmaster)
            time.sleep(0.3)
            calls, statements = statement_calls(settings)
        after = delivery_status(settings)
    finally:
        receiver.stop()
    arrivals = receiver.arrivals
    ids = [webhook_id for _, webhook_id in arrivals]
    delivered = after.get("DELIVERED", 0) - before.get("DELIVERED", 0)
    first, last = (arrivals[0][0], arrivals[-1][0]) if arrivals else (None, None)
    span = (last - first) if arrivals else 0.0
    cpu = {"server_s": server_cpu, "postgres_s": None if postgres_before is None else postgres_after - postgres_before}
    gaps = [(b - a) * 1000 for (a, _), (b, _) in zip(arrivals, arrivals[1:])]
    section["dispatch"] = {
        "pending_before": due, "delivered": delivered, "failed": after.get("FAILED", 0) - before.get("FAILED", 0),
        "still_pending": after.get("PENDING", 0), "requests": len(arrivals), "distinct_webhook_ids": len(set(ids)),
        "seconds_first_to_last": round(span, 3),
        "deliveries_per_s": (len(arrivals) - 1) / span if span > 0 else None,
        "deliveries_per_s_from_spawn": len(arrivals) / (last - spawned) if arrivals else None,
        "ready_after_s": round(ready - spawned, 3),
        "gap_between_arrivals": latency_summary(gaps),
        "sql_statements_per_delivery": calls / delivered if delivered else None, "sql_statements": statements[:40],
        "cpu": cpu, "cpu_per_1000_deliveries": per_thousand(cpu, delivered),
        "dispatcher": "beian's defaults: webhooks.batch_size 100, webhooks.concurrency 16 (a quarter per endpoint: "
                      "one endpoint here), webhooks.dispatch_interval_ms 500; plain HTTP to the receiver",
    }
    d = section["dispatch"]
    say(f"  {d['requests']} requests at the receiver ({d['distinct_webhook_ids']} distinct webhook-ids), "
        f"{delivered} marked DELIVERED, {d['failed']} FAILED: {fmt(d['deliveries_per_s'])} deliveries/s from the "
        f"first to the last; {fmt(d['sql_statements_per_delivery'], 1)} SQL/delivery")
