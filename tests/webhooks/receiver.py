"""A webhook receiver for beian's tests: verifies every delivery with the Standard Webhooks reference library from
PyPI (`standardwebhooks`), an implementation independent of the server's, and records what it received.

    python3 receiver.py --port-file P --secrets-file S --log L [--fail-first N]

Writes its port to P once listening. Reads the signing secrets (one per line) from S at each request, so a test can
register the endpoint first and hand over the secret after. Appends one JSON line per request to L:
{"webhookId", "type", "eventId", "filingId", "verified": [one bool per secret], "status"}. Answers 500 to the first
N requests (a receiver having a bad time), 200 to the rest, each after --delay-ms (a slow receiver).
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

parser = argparse.ArgumentParser()
parser.add_argument("--port-file", required=True)
parser.add_argument("--secrets-file", required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--fail-first", type=int, default=0)
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--delay-ms", type=int, default=0)
args = parser.parse_args()

lock = threading.Lock()
seen = {"requests": 0}


def secrets():
    try:
        with open(args.secrets_file) as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified = []
        for secret in secrets():
            try:
                Webhook(secret).verify(body, headers)
                verified.append(True)
            except Exception:
                verified.append(False)
        try:
            message = json.loads(body)
        except ValueError:
            message = {}
        data = message.get("data") or {}
        with lock:
            seen["requests"] += 1
            status = 500 if seen["requests"] <= args.fail_first else 200
            record = {
                "webhookId": headers.get("webhook-id"),
                "type": message.get("type"),
                "eventId": data.get("id"),
                "filingId": data.get("filingId"),
                "verified": verified,
                "status": status,
            }
            with open(args.log, "a") as log:
                log.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_):
        pass


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os

os.replace(args.port_file + ".tmp", args.port_file)
server.serve_forever()
