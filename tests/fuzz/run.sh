#!/usr/bin/env bash
# Schema fuzzing of beian's GraphQL API with schemathesis 4, once per role: anonymous, a phone's mobile token, an
# applicant, a reviewer, the registrar's API key and an administrator. Starts an already built `beian` on its
# embedded defaults (SQLite, embedded S3, mail to files) in a fresh data folder on a free loopback port, creates
# the credentials, fuzzes every query and mutation, and exits non-zero on any failure. See tests/fuzz/README.md.
#
# Environment (all optional):
#   BEIAN_BIN            the binary [${CARGO_TARGET_DIR:-$HOME/.cache/beian-target}/debug/beian]
#   FUZZ_ROLES           roles to run, in order [anonymous mobile applicant reviewer registrar admin]
#   FUZZ_MAX_EXAMPLES    test cases per operation and role [20]
#   FUZZ_SEED            schemathesis seed [20261129]; "random" for a new one each run (printed)
#   FUZZ_ARGS            extra `schemathesis run` arguments, e.g. "--exclude-name MutationRoot.uploadAttachment"
#   FUZZ_KEEP=1          keep the work folder (data, server log, reports) even when everything passed
#   FUZZ_HOLD=1          after the run, keep the server up and print its URL and tokens (Ctrl-C ends it)
#   FUZZ_DATABASE_URL    a PostgreSQL server where the run may create (and afterwards drop) a database, e.g.
#                        postgres://postgres@127.0.0.1:5432/postgres; as README.md's PostgreSQL section says, an
#                        owner role (beian_fuzz_owner) owns and migrates it and the server runs as an ordinary role
#                        (beian_fuzz: no superuser, no BYPASSRLS) granted exactly the README's statements. Unset:
#                        SQLite.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${BEIAN_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/beian-target}/debug/beian}"
ROLES="${FUZZ_ROLES:-anonymous mobile applicant reviewer registrar admin}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-20}"
SEED="${FUZZ_SEED:-20261129}"
PG_ADMIN_URL="${FUZZ_DATABASE_URL:-}"
TENANT=fuzz

say() { printf '[fuzz] %s\n' "$*"; }
die() { printf '[fuzz] error: %s\n' "$*" >&2; exit 2; }

[[ -x "$BIN" ]] || die "no beian binary at $BIN (build it with 'cargo build', or set BEIAN_BIN)"
command -v python3 >/dev/null || die "python3 is needed"

# --- schemathesis 4 -------------------------------------------------------------------------------------------
if ! python3 -c 'import sys, schemathesis; sys.exit(0 if schemathesis.__version__.split(".")[0] == "4" else 1)' \
  2>/dev/null; then
  say "installing schemathesis 4 with pip"
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5' 2>&1 \
    | grep -v "Running pip as the 'root' user" || true
fi
ST_VERSION="$(python3 -c 'import schemathesis; print(schemathesis.__version__)')"
[[ "$ST_VERSION" == 4.* ]] || die "schemathesis 4 is needed, found $ST_VERSION"

# --- the server -----------------------------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/beian-fuzz.XXXXXX")"
# beian reads BEIAN_* variables as configuration (and warns about those that name no setting, BEIAN_BIN itself):
# the server and the CLI get only the ones set here, not a developer's BEIAN_DATABASE_URL.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^BEIAN_' || true)
export BEIAN_DATA_DIR="$WORK/data"      # the embedded defaults: SQLite, S3 and mail files under it
export BEIAN_GRAPHQL_INTROSPECTION=true # on by default; schemathesis reads the schema by introspection
PG_DB=""
if [[ -n "$PG_ADMIN_URL" ]]; then
  command -v psql >/dev/null || die "FUZZ_DATABASE_URL needs psql"
  PG_DB="beian_fuzz_$(date +%s)_$$"
  PG_ROLE=beian_fuzz
  PG_OWNER=beian_fuzz_owner
  psql -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" <<SQL >/dev/null
DO \$\$ BEGIN CREATE ROLE $PG_ROLE LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$;
DO \$\$ BEGIN CREATE ROLE $PG_OWNER LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$;
CREATE DATABASE $PG_DB OWNER $PG_OWNER;
SQL
  # The same server and credentials, the fuzz database, a role (trust authentication, as here).
  url_as() {
    python3 - "$PG_ADMIN_URL" "$PG_DB" "$1" <<'PY'
import sys, urllib.parse
url, db, role = sys.argv[1:]
parts = urllib.parse.urlsplit(url)
host = parts.hostname or "127.0.0.1"
port = f":{parts.port}" if parts.port else ""
print(urllib.parse.urlunsplit((parts.scheme, f"{role}@{host}{port}", "/" + db, parts.query, "")))
PY
  }
  # The owner grants the server's role exactly what README.md's PostgreSQL section grants (its block of GRANTs).
  python3 - "$HERE/../../README.md" "$PG_ROLE" "$PG_OWNER" <<'PY' | psql -q -v ON_ERROR_STOP=1 "$(url_as "$PG_OWNER")" >/dev/null
import sys
readme, app, owner = sys.argv[1:]
blocks = [b.split("```")[0] for b in open(readme, encoding="utf-8").read().split("```sql")[1:]]
(grants,) = [b for b in blocks if "GRANT USAGE ON SCHEMA" in b]
print(grants.replace("beian_app", app).replace("beian_owner", owner))
PY
  # PostgreSQL has no generated secrets: every replica is configured with them (throwaway ones here).
  export BEIAN_AUTH_JWT_SECRET="fuzz-$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
  export BEIAN_PII_KEYS="{fuzz=\"$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')\"}"
  export BEIAN_PII_CURRENT_KEY=fuzz
  export BEIAN_PII_INDEX_KEY="$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
  # Migrated by the owner, served (and the CLI run) as the ordinary role.
  BEIAN_DATABASE_URL="$(url_as "$PG_OWNER")" "$BIN" migrate >"$WORK/migrate.log" 2>&1 ||
    { cat "$WORK/migrate.log" >&2; die "beian migrate failed"; }
  BEIAN_DATABASE_URL="$(url_as "$PG_ROLE")"
  export BEIAN_DATABASE_URL
fi
# Sessions outlive a slow run (15 minutes by default); an expired token would silently turn a role anonymous.
export BEIAN_AUTH_ACCESS_TOKEN_TTL_SECONDS=3600
SERVER_PID=""
STATUS=1

cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n "$PG_DB" ]]; then
    psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [[ "$STATUS" == 0 && "${FUZZ_KEEP:-0}" != 1 ]]; then
    rm -rf "$WORK"
  else
    printf '[fuzz] work folder kept: %s (server.log, reports/, credentials.env)\n' "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT/graphql"
"$BIN" serve --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 30 "$WORK/server.log" >&2; die "the server exited at start"; }
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" || die "the server is not ready after 30 s"
say "beian $("$BIN" --version | awk '{print $2}') at $URL (pid $SERVER_PID) on ${PG_DB:-SQLite}, schemathesis $ST_VERSION, work folder $WORK"

# --- credentials ----------------------------------------------------------------------------------------------
"$BIN" tenant create --slug "$TENANT" --name "Fuzz 测试" --admin-email "admin@$TENANT.example" >"$WORK/tenant.txt"
API_KEY="$(awk '/api key:/ {print $3}' "$WORK/tenant.txt")"
SETUP_TOKEN="$(awk '/setup token:/ {print $3}' "$WORK/tenant.txt")"
[[ -n "$API_KEY" && -n "$SETUP_TOKEN" ]] || { cat "$WORK/tenant.txt" >&2; die "tenant create printed no key or token"; }
python3 "$HERE/harness.py" credentials "$URL" "$BIN" "$BEIAN_DATA_DIR" "$TENANT" "$API_KEY" "$SETUP_TOKEN" \
  "$WORK/credentials.env"
# shellcheck disable=SC1091
source "$WORK/credentials.env"
TOKEN_anonymous=""

# The schema as the server serves it (introspection), for schemathesis to load from a file.
python3 "$HERE/harness.py" schema "$URL" "$WORK/schema.graphql"

# --- fuzzing --------------------------------------------------------------------------------------------------
export SCHEMATHESIS_HOOKS="$HERE/hooks.py"
export FUZZ_IDS_FILE="$WORK/ids.json"
# not_a_server_error is left out on purpose: schemathesis 4 takes every resolver error whose code it does not
# know (NOT_FOUND, FORBIDDEN, ...) for a server error. beian_server_errors checks 5xx, INTERNAL and codes outside
# beian's closed set instead.
CHECKS=response_schema_conformance,negative_data_rejection,beian_server_errors,beian_no_leaks,beian_stats
SEED_ARGS=()
[[ "$SEED" == random ]] || SEED_ARGS=(--seed "$SEED")
# shellcheck disable=SC2206
EXTRA_ARGS=(${FUZZ_ARGS:-})

mkdir -p "$WORK/reports"
SUMMARY=()
FAILED=()
PANICS_BEFORE=0
STARTED=$SECONDS
for role in $ROLES; do
  var="TOKEN_$role"
  [[ -v "$var" ]] || die "unknown role '$role' (anonymous mobile applicant reviewer registrar admin)"
  token="${!var}"
  header=()
  [[ -n "$token" ]] && header=(-H "Authorization: Bearer $token")
  say "role $role: schemathesis run, $MAX_EXAMPLES examples per operation"
  role_started=$SECONDS
  set +e
  # From the work folder, so that schemathesis writes its cache (./.schemathesis) there, not into the repository.
  (cd "$WORK" && FUZZ_STATS_FILE="$WORK/reports/$role.stats.json" python3 -m schemathesis.cli run schema.graphql \
    --url "$URL" "${header[@]}" \
    --checks "$CHECKS" \
    --phases fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    "${SEED_ARGS[@]}" \
    --workers 1 \
    --request-timeout 30 \
    --generation-database none \
    --no-color \
    --report json,vcr \
    --report-json-path "$WORK/reports/$role.json" \
    --report-vcr-path "$WORK/reports/$role.vcr.yaml" \
    "${EXTRA_ARGS[@]}") 2>&1 | tee "$WORK/reports/$role.log"
  code=${PIPESTATUS[0]}
  set -e
  # A panic kills the request's connection (schemathesis sees a network error) but not the server; count them.
  panics=$(grep -ac 'panicked at' "$WORK/server.log" || true)
  if (( panics > PANICS_BEFORE )); then
    say "role $role: $((panics - PANICS_BEFORE)) panic(s) in the server log:"
    awk '/panicked at/ { n++; where = $NF; sub(/.*\/registry\/src\/[^\/]+\//, "", where); getline what; if (n > skip) print where " " what }' \
      skip="$PANICS_BEFORE" "$WORK/server.log" | sort | uniq -c | sed 's/^ */[fuzz]   /'
    (( code != 0 )) || code=3
  fi
  PANICS_BEFORE=$panics
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    tail -n 40 "$WORK/server.log" >&2
    SUMMARY+=("$(python3 "$HERE/harness.py" summary "$role" "$((SECONDS - role_started))" \
      "$WORK/reports/$role.json" "$WORK/reports/$role.stats.json" "$code")")
    FAILED+=("$role")
    say "the server died during role $role"
    break
  fi
  SUMMARY+=("$(python3 "$HERE/harness.py" summary "$role" "$((SECONDS - role_started))" \
    "$WORK/reports/$role.json" "$WORK/reports/$role.stats.json" "$code")")
  (( code == 0 )) || FAILED+=("$role")
done

printf '\n==> schema fuzzing summary (schemathesis %s, seed %s, %s examples per operation, %ss)\n' \
  "$ST_VERSION" "$SEED" "$MAX_EXAMPLES" "$((SECONDS - STARTED))"
printf '%s\n' "${SUMMARY[@]}"
# Every INTERNAL answer is logged with its cause (src/graphql/error.rs); the checks fail the role that got one.
internal=$(grep -ac 'internal error' "$WORK/server.log" || true)
if (( internal > 0 )); then
  say "the server log has $internal 'internal error' line(s), with their causes: see $WORK/server.log"
  FAILED+=("server-log")
fi

if [[ "${FUZZ_HOLD:-0}" == 1 ]]; then
  say "holding the server at $URL; tokens in $WORK/credentials.env (Ctrl-C ends it)"
  cat "$WORK/credentials.env"
  wait "$SERVER_PID" || true
fi

if (( ${#FAILED[@]} > 0 )); then
  say "FAILED roles: ${FAILED[*]} (reports in $WORK/reports; reproduce with FUZZ_ROLES=<role> FUZZ_SEED=$SEED)"
  STATUS=1
  exit 1
fi
say "no failures"
STATUS=0
