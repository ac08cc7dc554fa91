"""Talking to a running beian: HTTP, GraphQL, global IDs, a keep-alive client, sessions, a server per section."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http import client as http_client
from pathlib import Path

from .dataset import Tenant
from .pg import psql, psql_value, quote_literal
from .proc import free_port, spawn, stop
from .settings import BENCH, Fail, Settings, beian_env


def http(url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 60.0):
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def graphql(url: str, body: bytes, auth: str | None = None) -> tuple[dict, int]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if auth:
        headers["Authorization"] = auth
    try:
        status, raw = http(url, body=body, headers=headers)
    except urllib.error.HTTPError as error:
        raise Fail(f"{url} answered HTTP {error.code}: {error.read()[:500]!r}") from None
    answer = json.loads(raw)
    if status != 200 or answer.get("errors") or not answer.get("data"):
        raise Fail(f"{url} answered with errors: {json.dumps(answer)[:800]}")
    return answer["data"], len(raw)


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Fail(f"{proc.args[0]} exited ({proc.returncode}) before it was ready; its log, {log}:\n"
                       + log.read_text(errors="replace")[-3000:])
        try:
            status, _ = http(url, timeout=2)
            if status == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.1)
    raise Fail(f"{url} was not ready after {timeout:.0f} s; see {log}")


def gid_of(kind: str, uuid: str) -> str:
    """A beian global ID: base64url (unpadded) of `Kind:uuid`."""
    return base64.urlsafe_b64encode(f"{kind}:{uuid}".encode()).decode().rstrip("=")


def gid(value: str) -> str:
    """The UUID inside a beian global ID (base64url of `Kind:uuid`)."""
    text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    return text.split(":", 1)[1]


class Client:
    """A GraphQL client on one keep-alive HTTP connection (one per thread)."""

    def __init__(self, base_url: str, auth: str | None = None, timeout: float = 120.0):
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port, self.auth, self.timeout = parsed.hostname, parsed.port, auth, timeout
        self.conn: http_client.HTTPConnection | None = None

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http_client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", "/graphql", body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http_client.HTTPException, ConnectionError, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def post_json(self, body: bytes) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.auth:
            headers["Authorization"] = self.auth
        return self.post(body, headers)

    def call(self, query: str, variables: dict | None = None) -> dict:
        """The whole answer (data and errors); an HTTP status other than 200 is an answer with an error too."""
        status, raw = self.post_json(json.dumps({"query": query, "variables": variables or {}}).encode())
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = {"errors": [{"message": raw[:300].decode(errors="replace")}]}
        if status != 200 and not answer.get("errors"):
            answer["errors"] = [{"message": f"HTTP {status}"}]
        return answer

    def data(self, query: str, variables: dict | None = None) -> dict:
        answer = self.call(query, variables)
        if answer.get("errors") or not answer.get("data"):
            raise Fail(f"beian answered with errors: {json.dumps(answer, ensure_ascii=False)[:800]}")
        return answer["data"]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def query_text(name: str) -> str:
    return (BENCH / "queries" / name).read_text()


def graphql_body(query_file: str, variables: dict, operation: str | None = None) -> str:
    """One request body as one line of JSON (for wrk's BENCH_BODIES files)."""
    body = {"query": query_text(query_file), "variables": variables}
    if operation:
        body["operationName"] = operation
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def request_body(query_file: str, variables: dict) -> bytes:
    query = (BENCH / "queries" / query_file).read_text()
    return json.dumps({"query": query, "variables": variables, "operationName": "BenchPage"}).encode()


REVIEWER_PASSWORD = "bench-reviewer-password-0001"


def reviewer_session(settings: Settings, base_url: str, tenant: Tenant) -> str:
    """The Authorization header of a session of the tenant's reviewer (`dev seed` creates reviewer@<slug>.example,
    with no password). The first time, a password is set the way a person would: requestPasswordReset, the token
    read from the queued PASSWORD_RESET message in the outbox, resetPassword; then login."""
    return staff_session(settings, base_url, tenant, "REVIEWER")


def staff_session(settings: Settings, base_url: str, tenant: Tenant, role: str) -> str:
    """A session of the tenant's staff member with `role` (REVIEWER: the seeded reviewer; ADMIN: admin@<slug>.example,
    added to the work database here the first time, without a password), signed in as `reviewer_session` says."""
    email = f"{role.lower()}@{tenant.slug}.example"
    if role != "REVIEWER":
        psql(settings.db_url, "INSERT INTO accounts (id, tenant_id, email, password_hash, display_name, role, status, "
                              f"preferred_language, created_at, updated_at) SELECT gen_random_uuid(), "
                              f"{quote_literal(tenant.id)}, {quote_literal(email)}, NULL, 'Bench {role.lower()}', "
                              f"{quote_literal(role)}, 'ACTIVE', NULL, now(), now() WHERE NOT EXISTS (SELECT 1 FROM "
                              f"accounts WHERE tenant_id = {quote_literal(tenant.id)} AND email = {quote_literal(email)})")
    client = Client(base_url)
    login = "mutation($input: LoginInput!) { login(input: $input) { accessToken account { role } } }"
    credentials = {"input": {"tenant": tenant.slug, "email": email, "password": REVIEWER_PASSWORD}}
    answer = client.call(login, credentials)
    if answer.get("errors"):
        client.data("mutation($t: String!, $e: String!) { requestPasswordReset(tenant: $t, email: $e) }",
                    {"t": tenant.slug, "e": email})
        # The recipient is stored sealed (personal data at rest): the tenant's newest reset message is the one just
        # requested (one account of a seeded tenant asks at a time).
        token = psql_value(settings.db_url, "SELECT payload->>'token' FROM outbox_messages WHERE template = "
                           f"'PASSWORD_RESET' AND tenant_id = {quote_literal(tenant.id)} "
                           "ORDER BY created_at DESC, id DESC LIMIT 1")
        if not token:
            raise Fail(f"no PASSWORD_RESET message for {email} in the outbox: cannot give the seeded reviewer a "
                       "password")
        client.data("mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }",
                    {"t": token, "p": REVIEWER_PASSWORD})
        answer = client.call(login, credentials)
    if answer.get("errors") or not answer.get("data"):
        raise Fail(f"the {role.lower()} {email} cannot sign in: {json.dumps(answer, ensure_ascii=False)[:500]}")
    signed_in = answer["data"]["login"]["account"]["role"]
    if signed_in != role:
        raise Fail(f"{email} signed in with role {signed_in}, not {role}")
    client.close()
    return f"Bearer {answer['data']['login']['accessToken']}"


@dataclass
class Beian:
    proc: subprocess.Popen
    base_url: str
    log: Path
    data_dir: Path

    @property
    def url(self) -> str:
        return f"{self.base_url}/graphql"


@contextlib.contextmanager
def running_beian(settings: Settings, logs: Path, name: str, **extra_env: str):
    """`beian serve` on settings.db (as the page runs start it: beian_env, embedded S3 in a fresh data folder),
    ready; stopped and its folder removed afterwards."""
    port = free_port()
    log = logs / f"beian-{name}.log"
    data_dir = Path(tempfile.mkdtemp(prefix=f"beian-bench-{name}-"))
    proc = spawn([str(settings.beian_bin), "serve", "--listen", f"127.0.0.1:{port}"], log=log,
                 env=beian_env(settings, BEIAN_DATA_DIR=str(data_dir), **extra_env))
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc, log)
        yield Beian(proc, f"http://127.0.0.1:{port}", log, data_dir)
    finally:
        stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)
