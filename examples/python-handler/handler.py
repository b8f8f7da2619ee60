#!/usr/bin/env python3
"""A minimal Dialpad webhook handler to copy: Python 3 standard library only.

It verifies each event's HS256 JWT with the secret in DIALPAD_SECRET and
prints one line per event.

    DIALPAD_SECRET=... python3 examples/python-handler/handler.py   # 127.0.0.1:3000
    dialpad-tunnel listen --websocket-id 1234 --forward-to http://127.0.0.1:3000/webhooks

With DIALPAD_SECRET set, the body must be the compact JWT Dialpad sends
(Content-Type application/jwt through the tunnel). Without it, plain JSON
events are accepted. Answers: 200 printed, 401 signature or algorithm
refused, 400 body unreadable. HOST and PORT set the listen address.

A second copy of an event (the same X-Dialpad-Tunnel-Event-Id, from a
second dialpad-tunnel on the same websocket) is answered 200 and logged as
a duplicate, not processed again.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import socket
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "3000"))
PATH = os.environ.get("WEBHOOK_PATH", "/webhooks")
SECRET = os.environ.get("DIALPAD_SECRET", "")
MAX_BODY = 8 << 20

B64URL = re.compile(rb"^[A-Za-z0-9_-]*$")

# Requests run on threads: one lock keeps each printed line whole.
print_lock = threading.Lock()


def say(line, stream=sys.stdout):
    with print_lock:
        stream.write(line + "\n")
        stream.flush()


# Event ids processed, id -> when, oldest first. Kept for 24 h, the agent's
# default --max-age: an agent that was down or retrying sends its copy up to
# that late. At most MAX_IDS are kept, the oldest forgotten first, so memory
# stays bounded whatever the rate; above ~100,000 events a day, raise it or
# keep the ids in your database. In memory: a restart forgets them.
KEEP_SECONDS = 24 * 60 * 60
MAX_IDS = 100_000
# An event id is a UUID (36 characters): a longer one is refused, so that
# the number of ids, not a header's length, bounds memory.
MAX_ID_LEN = 64
seen = OrderedDict()
seen_lock = threading.Lock()


def once(event_id, process):
    """Run process() unless event_id was processed already; return False
    for a duplicate.

    The id is remembered only once process() returned: if it raises, the
    agent retries and the retry is processed. An empty id (no header, a real
    Dialpad webhook) is never a duplicate. process() runs under the lock, so
    two copies arriving at once (two agents) cannot both run it; it makes
    processing one at a time, fine for printing a line. A handler with slow
    processing records the id in its database instead, in the same
    transaction as the work (a unique key on the event id).
    """
    if not event_id:
        process()
        return True
    with seen_lock:
        now = time.monotonic()
        while seen and (len(seen) >= MAX_IDS or now - next(iter(seen.values())) > KEEP_SECONDS):
            seen.popitem(last=False)
        if event_id in seen:
            return False
        process()
        seen[event_id] = now
        return True


class Reject(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status


def b64url(seg, what):
    if not B64URL.match(seg):
        raise Reject(400, f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(seg + b"=" * (-len(seg) % 4))
    except (binascii.Error, ValueError):
        raise Reject(400, f"{what} is not base64url") from None


def verify_hs256(token, secret):
    """Return the JWT's payload bytes once the signature matches.

    Only HS256 is accepted: alg "none", HS512, RS256 ... are refused before
    any key is used. Time claims are not checked: Dialpad may not send them.
    """
    parts = token.split(b".")
    if len(parts) != 3:
        raise Reject(400, f"not a compact JWT: {len(parts)} segment(s)")
    h, p, s = parts
    try:
        header = json.loads(b64url(h, "header"))
    except ValueError:
        raise Reject(400, "JWT header is not JSON") from None
    alg = header.get("alg") if isinstance(header, dict) else None
    if alg != "HS256":
        raise Reject(401, f"alg {json.dumps(alg)} refused: only HS256")
    want = hmac.new(secret.encode("utf-8"), h + b"." + p, hashlib.sha256).digest()
    if not hmac.compare_digest(b64url(s, "signature"), want):
        raise Reject(401, "signature does not match DIALPAD_SECRET")
    return b64url(p, "payload")


def describe(ev, tag):
    """Return "[verified] call hangup call_id=123" and the like.

    The type is guessed from fields only one event type carries. Python's
    json keeps ids above 2^53 exact.
    """
    # Objects in Dialpad's events; anything else reads as empty, so that an
    # odd event is printed, not a crash that leaves the request unanswered.
    target = ev.get("target") if isinstance(ev.get("target"), dict) else {}
    contact = ev.get("contact") if isinstance(ev.get("contact"), dict) else {}
    if "call_id" in ev:
        return f"{tag} call {ev.get('state')} call_id={ev['call_id']}"
    if "on_duty_status" in ev or "availability_status" in ev:
        status = ev.get("on_duty_status", ev.get("availability_status"))
        return f"{tag} agent_status {status} agent_id={target.get('id')}"
    if ev.get("event") and "id" in contact:
        return f"{tag} contact {ev['event']} contact_id={contact['id']}"
    if ev.get("action") and ev.get("changed_by"):
        return f"{tag} changelog {ev['action']} target_id={target.get('id')}"
    if "from_number" in ev or "message_status" in ev:
        return f"{tag} sms {ev.get('direction')} {ev.get('message_status')} id={ev.get('id')}"
    return f"{tag} unknown event"


def not_json(name):
    raise ValueError(f"{name} is not JSON")


def on_path(path):
    """Report whether a request's target is PATH, its query (a token in
    --forward-to, say) left out."""
    return path.split("?", 1)[0] == PATH


def handle(body, event_id):
    body = body.strip()
    is_json = body.startswith(b"{")
    if not SECRET:
        if not is_json:
            raise Reject(401, "signed event but DIALPAD_SECRET is not set")
        raw, tag = body, "[unsigned]"
    else:
        if is_json:
            raise Reject(401, "unsigned JSON event but DIALPAD_SECRET is set")
        raw, tag = verify_hs256(body, SECRET), "[verified]"
    try:
        # Strictly UTF-8 JSON, as the Go and Node handlers read it: given
        # bytes, json.loads also took UTF-16 and a byte order mark, and
        # NaN and Infinity, which are no JSON.
        ev = json.loads(raw.decode("utf-8"), parse_constant=not_json)
    except ValueError:
        raise Reject(400, "event is not JSON") from None
    if not isinstance(ev, dict):
        raise Reject(400, "event is not a JSON object")
    # Checked once verified: a forger gets no 200 by naming an id seen
    # already. Your processing goes here, in place of say(); raise
    # Reject(500, ...) if it fails, and the agent retries the event.
    if event_id and len(event_id) > MAX_ID_LEN:
        raise Reject(400, f"X-Dialpad-Tunnel-Event-Id of {len(event_id)} characters: not an event id")
    if not once(event_id, lambda: say(describe(ev, tag))):
        say(f"duplicate event {event_id}: processed already")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if not on_path(self.path):
            self.send_error(404)
            return
        try:
            if self.headers.get("Content-Length") is None:
                # No length (a chunked body, say): this server cannot
                # tell where the body ends. dialpad-tunnel always sends one.
                self.close_connection = True
                raise Reject(411, "no Content-Length")
            length = int(self.headers.get("Content-Length"))
            if length > MAX_BODY:
                # A final answer: the agent keeps the event as a dead
                # letter. The body is read to its end first, so that the
                # answer reaches a client still sending it.
                while length > 0:
                    chunk = self.rfile.read(min(length, 1 << 16))
                    if not chunk:
                        break
                    length -= len(chunk)
                raise Reject(413, "body too large")
            handle(self.rfile.read(length), self.headers.get("X-Dialpad-Tunnel-Event-Id"))
        except Reject as e:
            say(f"rejected {e.status}: {e}", sys.stderr)
            self.send_error(e.status)
            return
        except ValueError:
            self.send_error(400)
            return
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        # As the Node and Go handlers: 404 off the path, 405 on it, so
        # that `dialpad-tunnel doctor` (which sends HEAD) can tell a
        # wrong --forward-to path.
        if not on_path(self.path):
            self.send_error(404)
            return
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        pass  # one line per event on stdout is enough


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer on the address family of its host: alone it is
    IPv4 only, and HOST=::1 failed with "Address family for hostname not
    supported"."""

    def __init__(self, address, handler):
        self.address_family = socket.getaddrinfo(*address, type=socket.SOCK_STREAM)[0][0]
        super().__init__(address, handler)


def main():
    server = Server((HOST, PORT), Handler)
    host, port = server.server_address[:2]
    if ":" in host:
        host = f"[{host}]"
    mode = ("verifying HS256 JWTs with DIALPAD_SECRET" if SECRET
            else "DIALPAD_SECRET not set: accepting unsigned JSON")
    say(f"listening on http://{host}:{port}{PATH} ({mode})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
