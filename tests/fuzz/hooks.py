"""Schemathesis hooks for beian's schema fuzzing (loaded by tests/fuzz/run.sh through SCHEMATHESIS_HOOKS).

- Registers strategies for beian's scalars so that generated values are meaningful: global IDs of the server's
  shape (base64url of "<Type>:<uuid>"), some of them of objects that exist, RFC 3339 date-times, ISO dates,
  mostly small Ints, and the multipart placeholders that an `Upload` variable carries on the wire.
- Puts IDs of existing objects of the right type into arguments that name their type (`filingId`, `websiteIds`,
  `deleteAttachment(id:)`), half of the time (a `flatmap_body` hook).
- Adds three checks:
    beian_server_errors  HTTP 5xx, a response that is not GraphQL, an error with extensions.code INTERNAL, or a
                         resolver error whose code is outside the closed set the README promises;
    beian_no_leaks       SQL, ORM, panic or source-location text anywhere in a response;
    beian_stats          no assertion: counts responses per operation and error code for run.sh's summary
                         (written to $FUZZ_STATS_FILE as JSON when the run ends).

Uses schemathesis 4's extension points: `schemathesis.graphql.scalar`, `schemathesis.hook`, `schemathesis.check`,
and `schemathesis.core.failures.Failure` (so that findings group by their cause, not by the line that raised).
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone

import graphql
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.failures import Failure, Severity
from schemathesis.graphql import nodes

# --------------------------------------------------------------------------------------------------------------
# Scalars
# --------------------------------------------------------------------------------------------------------------

# Object types with global IDs (src/graphql/ids.rs, `Kind`).
ID_KINDS = (
    "Filing",
    "Website",
    "FilingEvent",
    "Account",
    "ApiKey",
    "Attachment",
    "SmsCheck",
    "Notification",
    "MobileVerification",
)


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


# A well-formed ID of a random type naming a random object: mostly NOT_FOUND, which exercises the lookups.
_global_ids = st.builds(lambda kind, uuid: _b64url(f"{kind}:{uuid}"), st.sampled_from(ID_KINDS), st.uuids())
# Almost right: an unknown type, a broken UUID, a cursor where an ID belongs, padding, plain text.
_malformed_ids = st.one_of(
    st.builds(lambda name, uuid: _b64url(f"{name}:{uuid}"), st.text(max_size=12), st.uuids()),
    st.builds(lambda kind, tail: _b64url(f"{kind}:{tail}"), st.sampled_from(ID_KINDS), st.text(max_size=40)),
    st.uuids().map(lambda uuid: _b64url(f"cursor:v1:{uuid}")),
    _global_ids.map(lambda gid: gid + "=="),
    st.text(max_size=40),
)


def _known_ids() -> list[str]:
    """IDs of objects that exist (run.sh's setup writes them to the file named by FUZZ_IDS_FILE)."""
    path = os.environ.get("FUZZ_IDS_FILE")
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [i for i in json.load(handle) if isinstance(i, str)]


KNOWN_IDS = _known_ids()
# Of ten IDs: four of real objects (when known), four well-formed of random objects, two malformed.
_id_sources = [_malformed_ids] * 2 + [_global_ids] * 4 + [st.sampled_from(KNOWN_IDS) if KNOWN_IDS else _global_ids] * 4
IDS = st.integers(min_value=0, max_value=len(_id_sources) - 1).flatmap(lambda i: _id_sources[i])

_offsets = st.sampled_from(
    [timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30)), timezone(timedelta(hours=14))]
)
_datetimes = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31), timezones=_offsets)


def _rfc3339(value: datetime, zulu: bool, seconds_only: bool) -> str:
    text = value.isoformat(timespec="seconds" if seconds_only else "auto")
    if zulu and text.endswith("+00:00"):
        text = text[: -len("+00:00")] + "Z"
    return text


DATETIMES = st.builds(_rfc3339, _datetimes, st.booleans(), st.booleans())
NAIVE_DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)).map(date.isoformat)
# A JSON request cannot carry a file. On the wire a multipart request replaces the variable with the placeholder
# "#__graphql_file__:<index>" (async-graphql), so send that form, with indexes and tails a client might send.
UPLOADS = st.one_of(
    st.integers(min_value=0, max_value=3).map(lambda i: f"#__graphql_file__:{i}"),
    st.text(max_size=8).map(lambda tail: f"#__graphql_file__:{tail}"),
    st.text(max_size=20),
)

# GraphQL Int is 32-bit. Mostly small non-negative numbers, which is what versions, page sizes and file sizes
# are (so that more cases get past the first check), and the whole range now and then.
INTS = st.one_of(
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
)

schemathesis.graphql.scalar("ID", IDS.map(nodes.String))
schemathesis.graphql.scalar("Int", INTS.map(nodes.Int))
schemathesis.graphql.scalar("DateTime", DATETIMES.map(nodes.String))
schemathesis.graphql.scalar("NaiveDate", NAIVE_DATES.map(nodes.String))
schemathesis.graphql.scalar("Upload", UPLOADS.map(nodes.String))

# --------------------------------------------------------------------------------------------------------------
# IDs of the right type where the argument says which
# --------------------------------------------------------------------------------------------------------------


def _kind_of(global_id: str):
    try:
        text = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode("utf-8")
    except Exception:
        return None
    kind = text.split(":", 1)[0]
    return kind if kind in ID_KINDS else None


KNOWN_BY_KIND: dict[str, list[str]] = defaultdict(list)
for _id in KNOWN_IDS:
    if (_kind := _kind_of(_id)) is not None:
        KNOWN_BY_KIND[_kind].append(_id)


def _wanted_kind(name: str, root_field: str):
    """The type an ID argument or input field names: `filingId` a Filing, `websiteIds` Websites, and a bare `id`
    whatever its root field is about (`deleteAttachment` an Attachment, `node` anything)."""
    if name in ("id", "ids"):
        if root_field == "node":
            return "*"
        matches = [kind for kind in ID_KINDS if kind.lower() in root_field.lower()]
        return max(matches, key=len) if matches else None
    for suffix in ("Ids", "Id"):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            kind = stem[:1].upper() + stem[1:]
            return kind if kind in ID_KINDS else None
    return None


def _id_sites(document: graphql.DocumentNode) -> list[tuple[int, str]]:
    """(id of a string node, wanted kind) for every string literal in an ID-naming argument or input field."""
    sites: list[tuple[int, str]] = []

    def collect(value, name: str, root: str) -> None:
        if isinstance(value, graphql.StringValueNode):
            kind = _wanted_kind(name, root)
            if kind is not None:
                sites.append((id(value), kind))
        elif isinstance(value, graphql.ListValueNode):
            for item in value.values:
                collect(item, name, root)
        elif isinstance(value, graphql.ObjectValueNode):
            for field in value.fields:
                collect(field.value, field.name.value, root)

    for definition in document.definitions:
        if not isinstance(definition, graphql.OperationDefinitionNode):
            continue
        for selection in definition.selection_set.selections:
            if isinstance(selection, graphql.FieldNode):
                for argument in selection.arguments or ():
                    collect(argument.value, argument.name.value, selection.name.value)
    return sites


def _replace_strings(document: graphql.DocumentNode, replacements: dict[int, str]) -> graphql.DocumentNode:
    class Replace(graphql.Visitor):
        def enter_string_value(self, node, *_):
            if id(node) in replacements:
                return graphql.StringValueNode(value=replacements[id(node)])
            return None

    return graphql.visit(document, Replace())


# Invisible characters a hostile client puts into text: U+0000 (which PostgreSQL cannot store), line breaks (which
# split mail headers), an escape sequence, a bell, DEL, a C1 control and a right-to-left override. The server must
# refuse each as a field error (or, where it does not store the text, ignore it), never answer INTERNAL.
CONTROLS = ("\x00", "\r\n", "\n", "\x1b[2J", "\x07", "\x7f", "\x85", "\u202e")


def _text_sites(document: graphql.DocumentNode) -> list[tuple[int, str]]:
    """(id, value) of every string literal in the operations' arguments."""
    sites: list[tuple[int, str]] = []

    class Collect(graphql.Visitor):
        def enter_string_value(self, node, *_):
            sites.append((id(node), node.value))

    for definition in document.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            graphql.visit(definition, Collect())
    return sites


def _tainted(value: str, control: str) -> str:
    middle = len(value) // 2
    return value[:middle] + control + value[middle:]


@schemathesis.hook
def flatmap_body(context, body):
    """Half of the ID literals that name their type get an existing object of that type (when setup made one), and
    a quarter of the other string literals get an invisible control character."""
    if not isinstance(body, graphql.DocumentNode):
        return st.just(body)
    id_sites = _id_sites(body) if KNOWN_IDS else []
    id_choices = []
    for node_id, kind in id_sites:
        pool = KNOWN_IDS if kind == "*" else KNOWN_BY_KIND.get(kind, [])
        id_choices.append(st.one_of(st.none(), st.sampled_from(pool)) if pool else st.none())
    taken = {node_id for node_id, _ in id_sites}
    text_sites = [(node_id, value) for node_id, value in _text_sites(body) if node_id not in taken]
    taint_choices = [
        st.one_of(st.none(), st.none(), st.none(), st.sampled_from(CONTROLS)) for _ in text_sites
    ]
    if not id_choices and not taint_choices:
        return st.just(body)

    def apply(picked) -> graphql.DocumentNode:
        ids, taints = picked
        replacements = {node_id: value for (node_id, _), value in zip(id_sites, ids) if value is not None}
        for (node_id, value), control in zip(text_sites, taints):
            if control is not None:
                replacements[node_id] = _tainted(value, control)
        return _replace_strings(body, replacements)

    return st.tuples(st.tuples(*id_choices), st.tuples(*taint_choices)).map(apply)


# --------------------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------------------

# README, "GraphQL API": every error carries extensions.code from this closed set (INTERNAL is a bug here).
CLIENT_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "BAD_USER_INPUT",
        "INVALID_TRANSITION",
        "CONFLICT",
        "PAYLOAD_TOO_LARGE",
        "RATE_LIMITED",
        "DATABASE_BUSY",
    }
)

# Internals that must never reach a client. Matched against every string of the response, after removing the
# strings the request itself sent (the server may echo input, e.g. "Not a domain name: ...").
LEAKS = (
    ("SQL", re.compile(r"\b(?:SELECT|INSERT INTO|UPDATE|DELETE FROM)\s+[\"`\w*]")),
    ("SQL", re.compile(r"\bSQLSTATE\b|\bsyntax error at or near\b|\bno such (?:table|column)\b")),
    ("database constraint", re.compile(r"constraint", re.IGNORECASE)),
    ("driver/ORM name", re.compile(r"\bsqlx\b|sea[_-]orm|\bDbErr\b|\bRecordNotFound\b|\brusqlite\b|\bsqlite3?_")),
    ("panic", re.compile(r"panicked at|\bRUST_BACKTRACE\b|stack backtrace")),
    ("source location", re.compile(r"[\w/.-]+\.rs:\d+")),
)


class BeianFailure(Failure):
    """A finding of one of these checks, grouped by its kind and cause (not by the line that raised it)."""

    code = "ST901"
    checks = ("beian_server_errors", "beian_no_leaks")
    kind_title = "beian contract violated"

    __slots__ = ("key",)

    def __init__(self, *, operation: str, title: str, message: str, key: str, severity: Severity) -> None:
        super().__init__(operation=operation, title=title, message=message, severity=severity)
        self.key = key

    @property
    def _unique_key(self) -> str:
        return self.key


def _payload(response):
    try:
        return response.json()
    except Exception:
        return None


def _errors(payload) -> list[dict]:
    if isinstance(payload, dict) and isinstance(payload.get("errors"), list):
        return [e for e in payload["errors"] if isinstance(e, dict)]
    return []


def _code(error: dict):
    extensions = error.get("extensions")
    return extensions.get("code") if isinstance(extensions, dict) else None


def _short(value, limit: int = 600) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."


def _request_strings(case) -> list[str]:
    """Every string literal and variable string the request sent, longest first."""
    body = case.body
    query, variables = (body.get("query"), body.get("variables")) if isinstance(body, dict) else (body, None)
    found: set[str] = set()
    if isinstance(query, str):
        try:
            document = graphql.parse(query)
        except Exception:
            found.add(query)
        else:

            class Strings(graphql.Visitor):
                def enter_string_value(self, node, *_):
                    found.add(node.value)

            graphql.visit(document, Strings())

    def walk(value):
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(variables)
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


def _response_strings(value, path="$"):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _response_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _response_strings(item, f"{path}[{index}]")


@schemathesis.check
def beian_server_errors(ctx, response, case):
    """5xx, a non-GraphQL answer, `INTERNAL`, or a resolver error outside the closed set of codes."""
    operation = case.operation.label
    if response.status_code >= 500:
        raise BeianFailure(
            operation=operation,
            title=f"HTTP {response.status_code}",
            message=_short(response.text or "<empty body>"),
            key=f"status:{response.status_code}",
            severity=Severity.CRITICAL,
        )
    payload = _payload(response)
    if response.status_code == 401:
        # A refused credential (README: wrong, expired or revoked tokens are HTTP 401). Nothing to judge.
        return None
    if not isinstance(payload, dict) or not ("data" in payload or "errors" in payload):
        raise BeianFailure(
            operation=operation,
            title=f"Not a GraphQL response (HTTP {response.status_code})",
            message=_short(response.text or "<empty body>"),
            key=f"shape:{response.status_code}",
            severity=Severity.HIGH,
        )
    for error in _errors(payload):
        code = _code(error)
        message = error.get("message", "")
        if code == "INTERNAL":
            raise BeianFailure(
                operation=operation,
                title='extensions.code "INTERNAL"',
                message=_short(error),
                key=f"internal:{error.get('path')}",
                severity=Severity.CRITICAL,
            )
        # Errors without a path are the GraphQL engine refusing the document (parse, validation, limits) before
        # any resolver ran; they carry no code. An error at a path with no code, or an unknown one, escaped the
        # error mapping (src/graphql/error.rs).
        if "path" in error and code not in CLIENT_CODES:
            # async-graphql reports input coercion of arguments with the field's path and no code.
            if code is None and re.match(r'(Failed to parse|Invalid value for argument|Expected input type)', message) is None:
                raise BeianFailure(
                    operation=operation,
                    title="Resolver error without extensions.code",
                    message=_short(error),
                    key=f"nocode:{message[:80]}",
                    severity=Severity.HIGH,
                )
            if code is not None:
                raise BeianFailure(
                    operation=operation,
                    title=f"Unknown extensions.code {code!r}",
                    message=_short(error),
                    key=f"code:{code}",
                    severity=Severity.HIGH,
                )
    return None


@schemathesis.check
def beian_no_leaks(ctx, response, case):
    """SQL, ORM or driver names, constraint names, panics or Rust source locations in a response."""
    payload = _payload(response)
    strings = list(_response_strings(payload)) if payload is not None else [("$", response.text or "")]
    sent = _request_strings(case)
    for path, text in strings:
        for literal in sent:
            if literal in text:
                text = text.replace(literal, "\u2063")
        for kind, pattern in LEAKS:
            match = pattern.search(text)
            if match is not None:
                raise BeianFailure(
                    operation=case.operation.label,
                    title=f"Internal detail leaked: {kind}",
                    message=f"{path}: {_short(text, 400)!r} (matched {match.group(0)!r})",
                    key=f"leak:{kind}:{path}",
                    severity=Severity.CRITICAL,
                )
    return None


@schemathesis.check
class beian_stats:  # noqa: N801 - the class name is the check's name on the command line
    """Counts responses per operation and code; writes them to $FUZZ_STATS_FILE at the end. Never fails."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.responses: dict[str, Counter] = defaultdict(Counter)
        self.samples: dict[str, dict[str, str]] = defaultdict(dict)

    def after_response(self, ctx, response, case):
        payload = _payload(response)
        errors = _errors(payload)
        if response.status_code != 200:
            outcome = f"HTTP {response.status_code}"
        elif not errors:
            outcome = "ok"
        else:
            outcome = _code(errors[0]) or ("VALIDATION" if "path" not in errors[0] else "NO_CODE")
        with self.lock:
            self.responses[case.operation.label][outcome] += 1
            if errors:
                self.samples[case.operation.label].setdefault(outcome, str(errors[0].get("message", ""))[:300])
        return None

    def after_run(self, ctx):
        target = os.environ.get("FUZZ_STATS_FILE")
        if not target:
            return None
        with self.lock:
            data = {
                "responses": {operation: dict(counter) for operation, counter in sorted(self.responses.items())},
                "samples": {operation: dict(samples) for operation, samples in sorted(self.samples.items())},
            }
        with open(target, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        return None
