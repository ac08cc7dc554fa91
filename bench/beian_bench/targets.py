"""The targets of issue #10, read from a run's results."""

from __future__ import annotations

import json

from .settings import MIB, TARGET_CONCURRENCY, TARGET_PAGE_SIZE, Settings


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
    fair = find_run(results, "postgraphile+fk", size, conc)
    # The target is read against PostGraphile on beian's schema as it is (the comparison); the ratio against
    # PostGraphile with its foreign-key indexes is given beside it.
    fk_note = ""
    if ours and fair:
        fk_note = ("against postgraphile+fk: " + (f"{ours['req_s'] / fair['req_s']:.2f}x" if fair["req_s"]
                                                   else f"{ours['req_s']:.1f} vs 0 req/s"))
    if ours and theirs and theirs["req_s"]:
        ratio = ours["req_s"] / theirs["req_s"]
        target("vs_postgraphile", f"page query req/s at least 5x PostGraphile's ({where})", round(ratio, 2), ">= 5",
               ratio >= 5, fk_note)
    elif ours and theirs and ours["req_s"]:
        # PostGraphile answered nothing within the measured seconds: any ratio is unbounded.
        target("vs_postgraphile", f"page query req/s at least 5x PostGraphile's ({where})",
               f"{ours['req_s']:.1f} vs 0 req/s", ">= 5", True, fk_note)
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
    scale = results.get("scale")
    if scale and scale.get("ratio_p99") is not None:
        base, scaled = scale["runs"]
        # The target reads p99 (the issue states its latency target as a p99); p50 is shown beside it.
        target("scale_1m", f"page-query p99 at {scaled['filings']} filings within 1.3x of {base['filings']} "
                           f"({where})", round(scale["ratio_p99"], 3), "<= 1.3x", scale["ratio_p99"] <= 1.3,
               f"p50 ratio {scale['ratio_p50']:.3f}; p99 {base['p99_ms']:.2f} -> {scaled['p99_ms']:.2f} ms")
    else:
        target("scale_1m", "page-query p99 at 1M filings within 1.3x of 100k", None, "<= 1.3x", None,
               "not run" if settings.only is not None else
               "not run: set BENCH_SCALE_FILINGS (e.g. 1000000; about 6 minutes of seeding) or --only scale")
    up = results.get("upload")
    if up and up.get("ok"):
        target("upload_rss", f"peak RSS growth of a {up['size_bytes'] // MIB} MiB multipart upload under 32 MiB",
               round(up["peak_rss_growth_mib"], 1), "< 32 MiB", up["peak_rss_growth_mib"] < 32,
               "" if up["hwm_reset"] else "VmHWM could not be reset: an earlier peak may count")
    elif up:
        target("upload_rss", "peak RSS growth of a 100 MB multipart upload under 32 MiB", None, "< 32 MiB", None,
               f"the upload failed: {json.dumps(up.get('errors'))[:200]}")
    else:
        target("upload_rss", "peak RSS growth of a 100 MB multipart upload under 32 MiB", None, "< 32 MiB", None,
               "not run")
    cold = results.get("cold_start")
    if cold:
        ms = cold["median_first_answer_ms"]
        target("cold_start", "cold start to the first answered request under 0.5 s (embedded defaults)",
               round(ms, 1), "< 500 ms", ms < 500)
    else:
        target("cold_start", "cold start to the first answered request under 0.5 s (embedded defaults)", None,
               "< 500 ms", None, "not run")
    return targets
