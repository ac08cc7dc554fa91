"""upload: a large GraphQL multipart upload, and beian's peak RSS growth while it streams."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.parse
from http import client as http_client
from pathlib import Path

from ..dataset import Tenant
from ..pg import psql, quote_literal
from ..proc import cpu_seconds, memory_status
from ..server import gid_of, query_text, running_beian
from ..settings import MIB, Fail, Settings, say


MP4_HEAD = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom"


def video_chunks(size: int, chunk: int = MIB):
    """A `size`-byte "MP4" (an ftyp box, then filler), in chunks: never the whole file in memory."""
    block = hashlib.sha256(b"beian bench").digest() * (chunk // 32)
    sent = 0
    while sent < size:
        piece = block[:min(chunk, size - sent)]
        if sent == 0:
            piece = (MP4_HEAD + piece[len(MP4_HEAD):])[:len(piece)]
        sent += len(piece)
        yield piece


def multipart_upload(base_url: str, auth: str, filing: str, website: str, size: int) -> tuple[dict, float]:
    """The GraphQL multipart request of uploadAttachment (FACE_VIDEO, video/mp4), streamed from video_chunks with a
    Content-Length. Returns the answer and the seconds from the first byte sent to the answer."""
    boundary = "beian-bench-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:24]
    operations = json.dumps({"query": query_text("beian-upload-attachment.graphql"), "variables": {
        "input": {"filingId": filing, "kind": "FACE_VIDEO", "websiteId": website}, "file": None}})
    prefix = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n"
              f"--{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n"
              + json.dumps({"0": ["variables.file"]}) + "\r\n"
              f"--{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"face.mp4\"\r\n"
              "Content-Type: video/mp4\r\n\r\n").encode()
    suffix = f"\r\n--{boundary}--\r\n".encode()
    parsed = urllib.parse.urlsplit(base_url)
    conn = http_client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
    try:
        conn.putrequest("POST", "/graphql")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(prefix) + size + len(suffix)))
        conn.putheader("Authorization", auth)
        conn.putheader("Accept", "application/json")
        conn.endheaders()
        started = time.perf_counter()
        try:
            conn.send(prefix)
            for chunk in video_chunks(size):
                conn.send(chunk)
            conn.send(suffix)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (e.g. 413): its answer says why
        response = conn.getresponse()
        raw = response.read()
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = {"errors": [{"message": f"HTTP {response.status}: {raw[:300]!r}"}]}
    return answer, seconds


def upload(settings: Settings, results: dict, logs: Path, tenant: Tenant, postmaster: int | None) -> None:
    row = psql(settings.db_url, f"""
        SELECT f.id, w.id FROM filings f JOIN websites w ON w.tenant_id = f.tenant_id AND w.filing_id = f.id
        WHERE f.tenant_id = {quote_literal(tenant.id)} AND f.status = 'DRAFT' ORDER BY f.id DESC, w.id LIMIT 1""")
    if not row:
        raise Fail(f"{tenant.slug} has no draft with a website to upload a face video to")
    filing, website = gid_of("Filing", row[0][0]), gid_of("Website", row[0][1])
    size = settings.upload_mib * MIB
    extra = {}
    # beian's default limit of a video (storage.max_video_bytes) is 200 MiB; only a larger upload needs more.
    if size > 200 * MIB:
        extra["BEIAN_STORAGE_MAX_VIDEO_BYTES"] = str(size)
        say(f"upload: raising storage.max_video_bytes to {size} for this run (BEIAN_STORAGE_MAX_VIDEO_BYTES)")
    expected = hashlib.sha256()
    for chunk in video_chunks(size):
        expected.update(chunk)
    auth = f"Bearer {tenant.api_key}"
    with running_beian(settings, logs, "upload", **extra) as server:
        pid = server.proc.pid
        # A first small upload warms up what any first upload sets up (the bucket, the S3 client, pools).
        warm, _ = multipart_upload(server.base_url, auth, filing, website, MIB)
        if warm.get("errors") or not warm.get("data"):
            raise Fail(f"the warm-up upload failed: {json.dumps(warm)[:800]}")
        time.sleep(0.5)
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            reset = True
        except OSError as error:
            say(f"  warning: cannot reset beian's peak RSS ({error}): VmHWM then includes its earlier peak")
            reset = False
        before = memory_status(pid)
        samples: list[int] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                try:
                    samples.append(memory_status(pid)["VmRSS"])
                except (OSError, KeyError):
                    return
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        say(f"upload: {settings.upload_mib} MiB face video (video/mp4) through uploadAttachment, streamed by the "
            f"client; beian's VmRSS before: {before['VmRSS'] / 1024:.1f} MiB")
        cpu_before = cpu_seconds(pid)
        sampler.start()
        answer, seconds = multipart_upload(server.base_url, auth, filing, website, size)
        sampling.set()
        sampler.join()
        after = memory_status(pid)
        cpu = cpu_seconds(pid) - cpu_before
    attachment = (answer.get("data") or {}).get("uploadAttachment") or {}
    ok = (not answer.get("errors") and attachment.get("status") == "UPLOADED" and attachment.get("size") == size
          and attachment.get("sha256") == expected.hexdigest())
    growth = (after["VmHWM"] - before["VmRSS"]) / 1024
    results["upload"] = {
        "size_bytes": size, "kind": "FACE_VIDEO", "content_type": "video/mp4", "caller": "the page tenant's API key",
        "limit": "storage.max_video_bytes " + (extra.get("BEIAN_STORAGE_MAX_VIDEO_BYTES") or "209715200 (default)"),
        "storage": "beian's embedded S3 in its data folder; the multipart file is first written to a temporary file",
        "ok": ok, "errors": answer.get("errors"), "attachment": attachment,
        "seconds": round(seconds, 3), "mib_per_s": size / MIB / seconds if seconds else None,
        "rss_before_mib": before["VmRSS"] / 1024, "hwm_after_mib": after["VmHWM"] / 1024,
        "rss_after_mib": after["VmRSS"] / 1024, "peak_rss_growth_mib": growth, "hwm_reset": reset,
        "sampled_peak_rss_mib": max(samples) / 1024 if samples else None, "server_cpu_s": cpu,
    }
    say(f"  {'stored and checked' if ok else 'FAILED'} in {seconds:.2f} s ({size / MIB / seconds:.0f} MiB/s); peak "
        f"RSS growth {growth:.1f} MiB (VmHWM {after['VmHWM'] / 1024:.1f} MiB after, VmRSS "
        f"{before['VmRSS'] / 1024:.1f} before)" + ("" if ok else f": {json.dumps(answer)[:500]}"))
