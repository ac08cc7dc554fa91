"""email: the mail dispatcher delivering the queued outbox into a local SMTP sink."""

from __future__ import annotations

import asyncio
import re
import statistics
import threading
import time
from pathlib import Path

from ..dataset import Tenant
from ..load import latency_summary, per_thousand
from ..pg import psql, reset_statements, statement_calls
from ..proc import cpu_seconds, postgres_cpu_seconds
from ..report import fmt
from ..server import reviewer_session, running_beian
from ..settings import Fail, Settings, say
from .transitions import pair_phase, pending_filings


class SmtpSink:
    """An SMTP server on loopback that accepts every message (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and
    records when each arrived and its Message-ID. It runs its own asyncio loop in a thread."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.sessions = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="smtp-sink", daemon=True)
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    def start(self) -> None:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self.session, "127.0.0.1", 0, limit=1 << 20), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self.server is not None:
            self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1

        async def reply(*lines: str) -> None:
            writer.write("".join(f"{line}\r\n" for line in lines).encode())
            await writer.drain()

        sender, recipients = None, []
        try:
            await reply("220 bench-sink ESMTP")
            while True:
                line = await reader.readline()
                if not line:
                    break
                command = line.decode("utf-8", "replace").strip()
                verb = command.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    await reply("250-bench-sink", "250-8BITMIME", "250 SMTPUTF8")
                elif verb == "HELO":
                    await reply("250 bench-sink")
                elif verb == "MAIL":
                    sender, recipients = command[5:].strip(), []
                    await reply("250 2.1.0 OK")
                elif verb == "RCPT":
                    if sender is None:
                        await reply("503 5.5.1 MAIL first")
                    else:
                        recipients.append(command[5:].strip())
                        await reply("250 2.1.5 OK")
                elif verb == "DATA":
                    if not recipients:
                        await reply("503 5.5.1 RCPT first")
                        continue
                    await reply("354 end with <CRLF>.<CRLF>")
                    data_started = time.monotonic()
                    lines = []
                    while True:
                        data_line = await reader.readline()
                        if not data_line:
                            raise ConnectionError("the client left during DATA")
                        if data_line in (b".\r\n", b".\n"):
                            break
                        lines.append(data_line[1:] if data_line.startswith(b"..") else data_line)
                    self.record(b"".join(lines), recipients, time.monotonic() - data_started)
                    sender, recipients = None, []
                    await reply("250 2.0.0 OK queued")
                elif verb == "RSET":
                    sender, recipients = None, []
                    await reply("250 2.0.0 OK")
                elif verb == "NOOP":
                    await reply("250 2.0.0 OK")
                elif verb == "QUIT":
                    await reply("221 2.0.0 bye")
                    break
                else:
                    await reply("502 5.5.2 command not implemented")
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    def record(self, data: bytes, recipients: list[str], in_data: float) -> None:
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        head = re.sub(r"\r?\n[ \t]+", " ", head)
        found = re.search(r"^message-id:\s*(\S+)", head, re.I | re.M)
        self.messages.append({"at": time.monotonic(), "message_id": found.group(1) if found else None,
                              "bytes": len(data), "recipients": len(recipients), "data_ms": in_data * 1000})


def outbox_status(settings: Settings) -> dict[str, int]:
    rows = psql(settings.db_url, "SELECT status, count(*) FROM outbox_messages GROUP BY status")
    return {status: int(count) for status, count in rows}


def email_dispatch(settings: Settings, results: dict, logs: Path, tenant: Tenant, postmaster: int | None) -> None:
    section = results["email_dispatch"] = {}
    queued = outbox_status(settings).get("QUEUED", 0)
    if queued < settings.mail_messages:
        # Not enough waiting (e.g. --only email): more transition pairs, with dispatch off, queue more.
        say(f"email dispatch: {queued} messages queued, fewer than {settings.mail_messages} (BENCH_MAIL_MESSAGES): "
            "driving transition pairs to queue more")
        driven = []
        with running_beian(settings, logs, "mail-queue") as server:
            auth = reviewer_session(settings, server.base_url, tenant)
            while queued < settings.mail_messages:
                # Each pair queues at least 3 messages (REVIEW_STARTED; PRELIMINARY_APPROVED to the applicant and to
                # every website's responsible person).
                items = pending_filings(settings, tenant)[:max(settings.pairs_workers,
                                                               -(-(settings.mail_messages - queued) // 3))]
                if not items:
                    say(f"  no more filings waiting for review: {queued} messages queued")
                    break
                entry = pair_phase(settings, server, auth, items, settings.pairs_workers, postmaster, "queue mail")
                driven.append({"pairs": entry["pairs"], "outbox_rows": entry["outbox_rows"], "failed": entry["failed"]})
                if not entry["pairs"]:
                    raise Fail(f"transition pairs failed while queueing mail: {entry['failures'][:1]}")
                queued = outbox_status(settings).get("QUEUED", 0)
        section["queued_by_pairs"] = driven
    before = outbox_status(settings)
    due = before.get("QUEUED", 0)
    if not due:
        raise Fail("no message is queued in the outbox: nothing to dispatch")
    by_template = {t: int(c) for t, c in psql(settings.db_url, "SELECT template, count(*) FROM outbox_messages WHERE "
                                                               "status = 'QUEUED' GROUP BY template ORDER BY template")}
    sink = SmtpSink()
    sink.start()
    say(f"email dispatch: {due} queued messages {by_template}; beian with mail.dispatch on and mail.smtp_url "
        f"smtp://127.0.0.1:{sink.port} (a local sink)")
    reset_statements(settings)
    postgres_before = postgres_cpu_seconds(postmaster)
    timeout = 120 + due / 10
    try:
        spawned = time.monotonic()
        with running_beian(settings, logs, "mail", BEIAN_MAIL_DISPATCH="true",
                           BEIAN_MAIL_SMTP_URL=f"smtp://127.0.0.1:{sink.port}") as server:
            ready = time.monotonic()
            status = outbox_status(settings)
            while status.get("QUEUED", 0) > 0:
                if time.monotonic() - spawned > timeout:
                    say(f"  warning: {status.get('QUEUED', 0)} messages still queued after {timeout:.0f} s")
                    break
                if server.proc.poll() is not None:
                    raise Fail(f"beian exited while dispatching mail; see {server.log}")
                time.sleep(0.2)
                status = outbox_status(settings)
            finished = time.monotonic()
            server_cpu = cpu_seconds(server.proc.pid)
            postgres_after = postgres_cpu_seconds(postmaster)
            time.sleep(0.3)
            calls, statements = statement_calls(settings)
    finally:
        sink.stop()
    after = outbox_status(settings)
    sent_ids = {row[0] for row in psql(settings.db_url, "SELECT message_id FROM outbox_messages WHERE status = 'SENT' "
                                                        "AND message_id IS NOT NULL")}
    received = sink.messages
    received_ids = [m["message_id"] for m in received]
    distinct = set(received_ids) - {None}
    sent = after.get("SENT", 0) - before.get("SENT", 0)
    first = received[0]["at"] if received else None
    last = received[-1]["at"] if received else None
    delivering = (last - first) if received else 0.0
    consistent = len(distinct) == after.get("SENT", 0) and distinct == sent_ids and len(received) == len(distinct)
    cpu = {"server_s": server_cpu, "postgres_s": None if postgres_before is None else postgres_after - postgres_before}
    section.update({
        "queued_before": due, "queued_by_template": by_template, "status_before": before, "status_after": after,
        "sent": sent, "failed": after.get("FAILED", 0) - before.get("FAILED", 0),
        "still_queued": after.get("QUEUED", 0),
        "sink": {"messages": len(received), "distinct_message_ids": len(distinct),
                 "without_message_id": received_ids.count(None), "duplicates": len(received) - len(distinct)
                 - received_ids.count(None), "smtp_sessions": sink.sessions,
                 "mean_bytes": round(statistics.fmean(m["bytes"] for m in received)) if received else None,
                 # From the sink's 354 to the end of the message: the client's sending of one message.
                 "data_phase": latency_summary([m["data_ms"] for m in received])},
        "consistent": consistent,
        "seconds_first_to_last": round(delivering, 3),
        "messages_per_s": (len(received) - 1) / delivering if delivering > 0 else None,
        "seconds_from_spawn": round((last - spawned) if received else finished - spawned, 3),
        "messages_per_s_from_spawn": len(received) / (last - spawned) if received else None,
        "ready_after_s": round(ready - spawned, 3),
        "sql_statements_per_message": calls / sent if sent else None, "sql_statements": statements[:40],
        "cpu": cpu, "cpu_per_1000_messages": per_thousand(cpu, sent),
        "dispatcher": "beian's defaults: mail.batch_size 20, mail.dispatch_interval_seconds 5 (a pass that claims a "
                      "full batch is followed by the next at once); SMTP without TLS to the sink",
    })
    say(f"  {len(received)} messages at the sink ({len(distinct)} distinct Message-IDs, {sink.sessions} SMTP "
        f"sessions), {sent} marked SENT, {section['failed']} FAILED: "
        f"{fmt(section['messages_per_s'])} messages/s from the first to the last "
        f"({fmt(section['messages_per_s_from_spawn'])}/s from the spawn of beian); "
        f"{fmt(section['sql_statements_per_message'], 1)} SQL/message"
        + ("" if consistent else " — SINK AND OUTBOX DISAGREE"))
