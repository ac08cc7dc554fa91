#!/bin/bash
# HEALTHCHECK of the beian container image (deploy/Dockerfile): GET /healthz on the address in BEIAN_LISTEN and
# healthy on HTTP 200. Plain bash (/dev/tcp), so the runtime image needs no curl. Set BEIAN_LISTEN rather than
# `serve --listen` if you move the port, or this check looks at the wrong one.
set -uo pipefail

listen="${BEIAN_LISTEN:-127.0.0.1:8080}"
port="${listen##*:}"
host="${listen%:*}"
host="${host#[}"
host="${host%]}"
case "$host" in
  "" | 0.0.0.0) host=127.0.0.1 ;;
  ::) host=::1 ;;
esac

if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
  echo "unhealthy: nothing listens on $host:$port" >&2
  exit 1
fi
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
status=""
IFS= read -r -t 2 status <&3 || true
exec 3<&-
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
esac
echo "unhealthy: GET /healthz answered ${status:-nothing}" >&2
exit 1
