"""What SQL beian issues for one request: read from PostgreSQL's own log (log_statement = all, set on the benchmark
database for a capture instance of beian only), with the parameters it bound; and the pgbench script of it."""

from __future__ import annotations

import re
from pathlib import Path

from .pg import debian_cluster, pg_port, psql_value, quote_literal
from .settings import Fail, Settings


LOG_ENTRY = re.compile(r"\[(\d+)\][^\n]*?\b(LOG|DETAIL|STATEMENT|ERROR|WARNING|NOTICE|FATAL|HINT|CONTEXT):  (.*)$")


PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


def log_file(settings: Settings) -> Path | None:
    try:
        current = psql_value(settings.admin_url, "SELECT pg_current_logfile()")
    except Fail:
        current = ""
    if current:
        path = Path(current)
        if not path.is_absolute():
            path = Path(psql_value(settings.admin_url, "SHOW data_directory")) / path
        return path
    cluster = debian_cluster(pg_port(settings))
    if cluster and cluster.get("log_file"):
        return Path(cluster["log_file"])
    return None


def parse_statements(text: str, database: str) -> list[dict]:
    """Statements executed (log_statement = all) in `text`, each with its bound parameters, in order."""
    entries: list[dict] = []
    for line in text.splitlines():
        match = LOG_ENTRY.search(line)
        if match is None:
            if entries:
                entries[-1]["text"] += "\n" + line
            continue
        pid, severity, message = match.groups()
        prefix = line[: match.start()] + line[match.start(): match.start(3)]
        entries.append({"pid": pid, "severity": severity, "text": message, "prefix": prefix})
    statements: list[dict] = []
    last_by_pid: dict[str, dict] = {}
    for entry in entries:
        if f"@{database} " not in entry["prefix"] and "@" in entry["prefix"]:
            continue
        text = entry["text"]
        if entry["severity"] == "LOG":
            found = re.match(r"(?:execute [^:]*|statement): (.*)", text, re.S)
            if found:
                statement = {"sql": found.group(1).strip(), "params": {}}
                statements.append(statement)
                last_by_pid[entry["pid"]] = statement
        elif entry["severity"] == "DETAIL" and text.startswith("parameters:") and entry["pid"] in last_by_pid:
            for number, value in PARAM.findall(text):
                last_by_pid[entry["pid"]]["params"][int(number)] = (
                    None if value == "NULL" else value[1:-1].replace("''", "'"))
    return statements


def inline(statement: dict) -> str:
    """The statement with its parameters written in as literals (for reading, and psql)."""
    def literal(match: re.Match) -> str:
        value = statement["params"].get(int(match.group(1)))
        return "NULL" if value is None else quote_literal(value)
    return re.sub(r"\$(\d+)\b", literal, statement["sql"])


def pgbench_script(statements: list[dict], prefix: str) -> tuple[str, list[str]]:
    """A pgbench script (prepared mode: pgbench variables become bound parameters, as beian binds them) and the
    -D definitions of its variables."""
    lines, defines = [], []
    for index, statement in enumerate(statements):
        def variable(match: re.Match) -> str:
            number = int(match.group(1))
            value = statement["params"].get(number)
            if value is None:
                return "NULL"
            name = f"{prefix}{index}_{number}"
            defines.append(f"{name}={value}")
            return f":{name}"
        sql = re.sub(r"\$(\d+)\b", variable, statement["sql"])
        lines.append(" ".join(sql.split()) + ";")
    return "\n".join(lines) + "\n", defines
