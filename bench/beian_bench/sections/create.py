"""create: createFiling as the registrar's backend sends it, a different valid subject in every request. The inputs
are beian's own (`beian dev sample-input create-filing`: the forms `dev seed` writes, numbered apart from them)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..dataset import Tenant, sample_inputs, tenant_filings
from ..load import measure_load
from ..report import one_line
from ..server import Client, graphql_body, query_text, running_beian
from ..settings import TARGET_CONCURRENCY, Fail, Settings, say


# The numbers of the harness's inputs start here (`dev seed` numbers its filings from 0), so their credit codes,
# domains, mobiles and emails stay apart from the seeded ones (the default of `dev sample-input --start`).
CREATE_BASE = 90_000_000


def create_filings(settings: Settings, results: dict, logs: Path, tenant: Tenant, postmaster: int | None) -> None:
    create = query_text("beian-create-filing.graphql")
    # Enough different subjects for a run at 1000 requests a second; beyond that wrk starts over (bodies_reused),
    # which beian accepts (see the duplicate probe) but which is no longer one new subject per request.
    per_second = 1000
    warm_count = max(500, per_second * settings.warmup)
    measured_count = max(2000, per_second * settings.duration)
    # The first input is the duplicate probe's, then the warm-up's, then the measured run's.
    inputs = sample_inputs(settings, "create-filing", CREATE_BASE, 1 + warm_count + measured_count)
    probe = inputs[0]
    warm_file, measured_file = logs / "bodies-create-warmup.jsonl", logs / "bodies-create.jsonl"
    for path, chosen in ((warm_file, inputs[1:1 + warm_count]), (measured_file, inputs[1 + warm_count:])):
        path.write_text("\n".join(graphql_body("beian-create-filing.graphql", {"input": one}, "BenchCreateFiling")
                                  for one in chosen) + "\n")
    with running_beian(settings, logs, "create") as server:
        auth = f"Bearer {tenant.api_key}"
        client = Client(server.base_url, auth)
        # Is the same input refused the second time? (The probe's is not among the measured bodies.)
        first = client.call(create, {"input": probe})
        if first.get("errors"):
            raise Fail(f"createFiling refused the harness's input: {json.dumps(first, ensure_ascii=False)[:800]}")
        second = client.call(create, {"input": probe})
        duplicate = {"refused": bool(second.get("errors")),
                     "error": (second.get("errors") or [{}])[0].get("extensions", {}).get("code")}
        client.close()
        say(f"createFiling: the same input twice is {'REFUSED' if duplicate['refused'] else 'accepted'} the second "
            f"time; every measured request sends another subject ({warm_count} warm-up and {measured_count} measured "
            f"inputs); wrk at concurrency {TARGET_CONCURRENCY}")
        counts = {}

        def count_before() -> None:
            time.sleep(1.0)  # the warm-up's requests still in flight end
            counts["before"] = tenant_filings(settings, tenant)

        entry = measure_load(settings, peer="beian", proc=server.proc, url=server.url, auth=auth,
                             connections=TARGET_CONCURRENCY, postmaster=postmaster,
                             bodies=(warm_file, measured_file), check_errors=True, before_measured=count_before)
        time.sleep(1.0)
        counts["after"] = tenant_filings(settings, tenant)
    created = counts["after"] - counts["before"]
    answered_ok = entry["requests"] - entry["errors"] - (entry["graphql_errors"] or 0)
    # Requests in flight when wrk stopped may still create their filing without being counted by wrk.
    in_flight = created - answered_ok
    verified = (entry["errors"] == 0 and not entry["graphql_errors"] and 0 <= in_flight <= TARGET_CONCURRENCY)
    entry["verification"] = {"filings_before": counts["before"], "filings_after": counts["after"],
                             "created": created, "answered_ok": answered_ok, "created_in_flight": in_flight,
                             "verified": verified}
    say("  " + one_line(entry) + f"; {created} filings created for {answered_ok} successful answers"
        + ("" if verified else " — VERIFICATION FAILED"))
    results["create_filing"] = {
        "query": "bench/queries/beian-create-filing.graphql", "caller": "the page tenant's API key (FULL)",
        "input": "a Beijing enterprise with 1-3 websites, a different subject in every request "
                 "(`beian dev sample-input create-filing`)",
        "duplicate_input": duplicate, "inputs": {"warmup": warm_count, "measured": measured_count}, "run": entry,
    }
