"""Helpers for tests/fuzz/run.sh: the live schema, the credentials of every role, the per-role summary.

    python3 harness.py schema URL OUT.graphql
        Introspects the running server and writes its schema as SDL (for `schemathesis run OUT.graphql --url URL`).
    python3 harness.py credentials URL BEIAN_BIN DATA_DIR TENANT API_KEY SETUP_TOKEN OUT.env
        Creates an administrator, a reviewer, an applicant, filings and a mobile hand-off; writes shell
        assignments (TOKEN_<role>=...) to OUT.env.
    python3 harness.py summary ROLE SECONDS REPORT.json STATS.json EXIT_CODE
        Prints one line for a role from schemathesis' JSON report and the hooks' response statistics.

Only the standard library and graphql-core (a dependency of schemathesis) are used.
"""

from __future__ import annotations

import email
import hashlib
import email.policy
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# --------------------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------------------

# How many `ofType` levels a type reference follows. The standard introspection query (graphql-js, graphql-core,
# GraphiQL, schemathesis) nests 7 and is refused by beian's depth limit (graphql.max_depth = 12): "Query is nested
# too deep". Four levels reach the named type of anything up to `[[T!]]!`; `build_client_schema` fails loudly if
# the schema ever needs more.
TYPE_REF_DEPTH = 4


def introspection_query(depth: int = TYPE_REF_DEPTH) -> str:
    type_ref = "kind name"
    for _ in range(depth):
        type_ref = f"kind name ofType {{ {type_ref} }}"
    return f"""
query BeianFuzzIntrospection {{
  __schema {{
    queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }}
    types {{ ...FullType }}
    directives {{ name description isRepeatable locations args {{ ...InputValue }} }}
  }}
}}
fragment FullType on __Type {{
  kind name description specifiedByURL
  fields(includeDeprecated: true) {{
    name description args {{ ...InputValue }} type {{ ...TypeRef }} isDeprecated deprecationReason
  }}
  inputFields {{ ...InputValue }}
  interfaces {{ ...TypeRef }}
  enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }}
  possibleTypes {{ ...TypeRef }}
}}
fragment InputValue on __InputValue {{ name description type {{ ...TypeRef }} defaultValue }}
fragment TypeRef on __Type {{ {type_ref} }}
"""


def post(url: str, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{url}: HTTP {error.code}: {error.read()[:500]!r}") from None


def call(url: str, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    """Runs a query that must succeed and returns its data."""
    answer = post(url, query, variables, token)
    if answer.get("errors") or answer.get("data") is None:
        raise SystemExit(f"setup query failed: {query.split('{')[0].strip() or query[:60]}: {json.dumps(answer)[:800]}")
    return answer["data"]


def schema(url: str, out: str) -> None:
    import graphql

    answer = post(url, introspection_query())
    if answer.get("errors") or not answer.get("data"):
        raise SystemExit(f"introspection refused (is graphql.introspection on?): {json.dumps(answer)[:500]}")
    client_schema = graphql.build_client_schema(answer["data"])
    Path(out).write_text(graphql.print_schema(client_schema) + "\n", encoding="utf-8")
    root = client_schema.query_type, client_schema.mutation_type
    print(f"schema: {len(root[0].fields)} queries, {len(root[1].fields) if root[1] else 0} mutations")


# --------------------------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------------------------

TOKEN_RE = re.compile(r"\bbeian_t_[A-Za-z0-9_-]+")


def mail_token(beian: str, data_dir: str, tenant: str, recipient: str, stage: str, timeout: float = 30.0) -> str:
    """The one-time token of the newest `stage` message to `recipient`.

    Read from the outbox (`beian outbox list`, which shows each message's payload as soon as it is queued) and, as
    a fallback, from the .eml files the embedded mail transport writes to data_dir/mail/ (every few seconds).
    """
    deadline = time.monotonic() + timeout
    while True:
        listed = subprocess.run(
            [beian, "outbox", "list", "--tenant", tenant, "--limit", "50"],
            capture_output=True,
            text=True,
            check=False,
        )
        block = None
        for line in listed.stdout.splitlines():
            if not line.startswith(" "):
                block = (stage in line.split() and line.rstrip().endswith(f"to {recipient}"))
            elif block:
                found = TOKEN_RE.search(line)
                if found:
                    return found.group(0)
        for path in sorted(Path(data_dir, "mail").glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            with open(path, "rb") as handle:
                message = email.message_from_binary_file(handle, policy=email.policy.default)
            if recipient not in str(message.get("To", "")):
                continue
            body = message.get_body(preferencelist=("plain",))
            found = TOKEN_RE.search(body.get_content() if body is not None else "")
            if found:
                return found.group(0)
        if time.monotonic() > deadline:
            raise SystemExit(
                f"no {stage} token for {recipient} in the outbox or {data_dir}/mail\n"
                f"outbox list: rc={listed.returncode}\n{listed.stdout[-1500:]}{listed.stderr[-1500:]}"
            )
        time.sleep(0.5)


SESSION = "accessToken account { id role }"

# The README's walkthrough filing: valid, so that a filing, a website and a responsible person exist to be found.
FILING = {
    "subject": {
        "subjectType": "ENTERPRISE",
        "name": "北京示例科技有限公司",
        "certificateType": "BUSINESS_LICENCE",
        "certificateNumber": "91110105MA01ABCD13",
        "provinceCode": "110000",
        "cityCode": "110100",
        "districtCode": "110105",
        "mailingAddress": "北京市朝阳区示例路1号",
        "responsiblePerson": {
            "name": "张三",
            "certificateType": "RESIDENT_ID_CARD",
            "certificateNumber": "11010519491231002X",
            "mobile": "13800138000",
            "email": "zhangsan@example.com",
        },
    },
    "websites": [
        {
            "name": "示例科技官网",
            "domains": ["example.com"],
            "homepageUrl": "https://www.example.com",
            "serviceContent": ["ORGANISATION_PORTAL"],
            "languages": ["SIMPLIFIED_CHINESE"],
            "preApprovals": [],
            "accessMethod": "CLOUD",
            "remark": "公司介绍、产品展示与联系方式，不提供交互服务。",
            "responsiblePerson": {
                "name": "李四",
                "certificateType": "RESIDENT_ID_CARD",
                "certificateNumber": "110105199001011232",
                "mobile": "13900139000",
                "email": "lisi@example.com",
            },
        }
    ],
}
CREATE_FILING = "mutation($input: CreateFilingInput!) { createFiling(input: $input) { id version websites { id } } }"


def complete_setup(url: str, token: str, password: str, role: str) -> str:
    """Chooses the password of a set-up token (first administrator, invited staff); the session's access token."""
    session = call(
        url,
        f"mutation($t: String!, $p: String!) {{ completeAccountSetup(token: $t, password: $p) {{ {SESSION} }} }}",
        {"t": token, "p": password},
    )["completeAccountSetup"]
    assert session["account"]["role"] == role, session
    return session["accessToken"]


def credentials(url: str, beian: str, data_dir: str, tenant: str, api_key: str, setup_token: str, out: str) -> None:
    tokens: dict[str, str] = {"registrar": api_key}

    # Administrator: the setup token printed by `beian tenant create --admin-email`.
    tokens["admin"] = complete_setup(url, setup_token, "fuzz administrator passphrase", "ADMIN")

    # Reviewer: invited by the administrator; the invitation's token sets the password.
    reviewer_email = f"reviewer@{tenant}.example"
    call(
        url,
        "mutation($i: InviteStaffInput!) { inviteStaff(input: $i) { id } }",
        {"i": {"email": reviewer_email, "displayName": "Fuzz Reviewer", "role": "REVIEWER"}},
        tokens["admin"],
    )
    invitation = mail_token(beian, data_dir, tenant, reviewer_email, "STAFF_INVITATION")
    tokens["reviewer"] = complete_setup(url, invitation, "fuzz reviewer passphrase", "REVIEWER")

    # Applicant: signs up, confirms the address with the emailed token (which signs them in).
    applicant_email = f"applicant@{tenant}.example"
    call(
        url,
        "mutation($i: RegisterApplicantInput!) { registerApplicant(input: $i) { message } }",
        {"i": {"tenant": tenant, "email": applicant_email, "password": "fuzz applicant passphrase",
               "displayName": "Fuzz Applicant"}},
    )
    verification = mail_token(beian, data_dir, tenant, applicant_email, "EMAIL_VERIFICATION")
    applicant = call(url, f"mutation($t: String!) {{ verifyEmail(token: $t) {{ {SESSION} }} }}", {"t": verification})
    applicant = applicant["verifyEmail"]
    assert applicant["account"]["role"] == "APPLICANT", applicant
    tokens["applicant"] = applicant["accessToken"]

    # Something to find: a draft of the applicant's own and one the registrar's backend created.
    own = call(url, CREATE_FILING, {"input": FILING}, tokens["applicant"])["createFiling"]
    call(url, CREATE_FILING, {"input": FILING}, tokens["registrar"])

    # Mobile hand-off: the token a website's responsible person opens on the phone.
    started = call(
        url,
        "mutation($i: StartMobileVerificationInput!) { startMobileVerification(input: $i) { token } }",
        {"i": {"filingId": own["id"], "websiteId": own["websites"][0]["id"]}},
        tokens["applicant"],
    )
    tokens["mobile"] = started["startMobileVerification"]["token"]

    # A material whose upload was requested but never made (its object is missing from the store).
    content = b"%PDF-1.4 beian fuzz\n"
    call(
        url,
        "mutation($i: RequestAttachmentUploadInput!) { requestAttachmentUpload(input: $i) { attachment { id } } }",
        {"i": {"filingId": own["id"], "kind": "SUBJECT_CERTIFICATE", "fileName": "licence.pdf",
               "contentType": "application/pdf", "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}},
        tokens["applicant"],
    )

    # Every global ID that now exists, for the hooks to mix into generated IDs (FUZZ_IDS_FILE): lookups and
    # mutations then reach real objects of every type instead of only NOT_FOUND.
    seen = call(url, KNOWN_IDS, token=tokens["admin"])
    ids = sorted(set(_ids(seen)))

    with open(out, "w", encoding="utf-8") as handle:
        for role, token in tokens.items():
            handle.write(f"TOKEN_{role}='{token}'\n")
    with open(Path(out).with_name("ids.json"), "w", encoding="utf-8") as handle:
        json.dump(ids, handle, indent=1)
    print(f"credentials: {', '.join(tokens)}; {len(ids)} object IDs")


KNOWN_IDS = """{
  filings(first: 100) { edges { node { id websites { id } events { id } attachments { id }
    mobileVerifications { id } smsChecks { id } notifications { id } } } }
  accounts(first: 100) { edges { node { id } } }
  apiKeys { id }
  notifications(first: 100) { edges { node { id } } }
}"""


def _ids(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "id" and isinstance(item, str):
                yield item
            else:
                yield from _ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _ids(item)


# --------------------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------------------


def summary(role: str, seconds: str, report_path: str, stats_path: str, exit_code: str) -> None:
    """One line per role: verdict, time, operations, test cases, failures, errors and the answers seen."""
    stats: dict = {}
    if os.path.exists(stats_path):
        with open(stats_path, encoding="utf-8") as handle:
            stats = json.load(handle).get("responses", {})
    outcomes: dict[str, int] = {}
    for counts in stats.values():
        for outcome, n in counts.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
    report: dict = {}
    if os.path.exists(report_path):
        try:
            with open(report_path, encoding="utf-8") as handle:
                report = json.load(handle)
        except (OSError, ValueError):
            report = {}
    operations = report.get("operations", {})
    cases = report.get("test_cases", {})
    errors = sum(e.get("count", 1) for e in report.get("errors", []) if isinstance(e, dict))
    answers = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]))
    verdict = "ok" if exit_code == "0" else f"FAILED (exit {exit_code})"
    print(
        f"{role:<10} {verdict:<16} {float(seconds):5.0f}s  operations {operations.get('tested', '?')}"
        f"/{operations.get('selected', '?')}  test cases {cases.get('generated', '?')}"
        f"  unique failures {cases.get('unique_failures', '?')}  errors {errors}  seed {report.get('seed', '?')}"
        f"  answers: {answers or '-'}"
    )


def main(argv: list[str]) -> None:
    commands = {"schema": schema, "credentials": credentials, "summary": summary}
    if len(argv) < 2 or argv[1] not in commands:
        raise SystemExit(__doc__)
    commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
