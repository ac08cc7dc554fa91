"""coldstart: cold start on the embedded defaults."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.error
from pathlib import Path

from ..proc import free_port, spawn, stop
from ..server import http
from ..settings import Fail, Settings, say


def cold_start(settings: Settings, results: dict, logs: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEIAN_") and k != "RUST_LOG"}
    body = json.dumps({"query": "{ referenceData { provinces { code } } }"}).encode()
    runs = []
    for attempt in range(settings.cold_runs):
        work = Path(tempfile.mkdtemp(prefix="beian-bench-cold-"))
        port = free_port()
        log = logs / f"cold-start-{attempt + 1}.log"
        started = time.perf_counter()
        proc = spawn([str(settings.beian_bin), "serve", "--listen", f"127.0.0.1:{port}"], log=log, env=env, cwd=work)
        ready_ms = answered_ms = None
        try:
            deadline = started + 60
            while time.perf_counter() < deadline and ready_ms is None:
                if proc.poll() is not None:
                    raise Fail(f"beian exited ({proc.returncode}) during a cold start; see {log}")
                try:
                    status, _ = http(f"http://127.0.0.1:{port}/readyz", timeout=5)
                    if status == 200:
                        ready_ms = (time.perf_counter() - started) * 1000
                except (urllib.error.URLError, ConnectionError, OSError):
                    time.sleep(0.002)
            if ready_ms is None:
                raise Fail(f"beian was not ready 60 s after a cold start; see {log}")
            status, raw = http(f"http://127.0.0.1:{port}/graphql", body=body,
                               headers={"Content-Type": "application/json"}, timeout=30)
            answered_ms = (time.perf_counter() - started) * 1000
            answer = json.loads(raw)
            if answer.get("errors") or not answer.get("data", {}).get("referenceData", {}).get("provinces"):
                raise Fail(f"the first GraphQL answer after a cold start has errors: {raw[:300]!r}")
        finally:
            stop(proc)
            shutil.rmtree(work, ignore_errors=True)
        runs.append({"ready_ms": ready_ms, "first_answer_ms": answered_ms})
        say(f"cold start {attempt + 1}: /readyz 200 after {ready_ms:.0f} ms, first GraphQL answer after "
            f"{answered_ms:.0f} ms")
    results["cold_start"] = {
        "runs": runs,
        "median_ready_ms": statistics.median(r["ready_ms"] for r in runs),
        "median_first_answer_ms": statistics.median(r["first_answer_ms"] for r in runs),
        "how": "fresh empty working directory (data_dir ./data: SQLite, secret, embedded S3 all created), no "
               "BEIAN_* variables; from spawn to the first 200 of /readyz and to the answer of "
               "{ referenceData { provinces { code } } }",
    }
