#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A deliberately malicious controller for tests/e2e/49-vpnctl-hostile-controller.sh.

A compromised or impersonated controller is a fault that no real part of
privatevpn produces, so this fake stands in for one.  It serves HTTPS with the
test CA's certificate, relays every request to the real controller, and
tampers with POST /api/provision replies as MODE_FILE says (read on each
request, so the scenario switches modes without a restart):

  pass           relay unchanged
  config         PostUp/PreUp/Table lines in the free-text config
  field:NAME     a line break and a PostUp line appended to field NAME
  old            the separate fields removed (an older controller) and PostUp in config
  location       (GET /api/servers) a line break and a PostUp line as every server's location

usage: hostile-controller.py ADDR PORT CERT KEY UPSTREAM CA MODE_FILE MARKER
"""
import http.server
import json
import ssl
import sys
import urllib.error
import urllib.request

ADDR, PORT, CERT, KEY, UPSTREAM, CA, MODE_FILE, MARKER = sys.argv[1:9]
EVIL = f"PostUp = touch {MARKER}\nPreUp = touch {MARKER}\nTable = off\n"


def mode_now():
    with open(MODE_FILE, encoding="utf-8") as f:
        return f.read().strip()


def tamper_servers(reply):
    if mode_now() == "location":
        for s in reply.get("servers", []):
            s["location"] = "NY\nPostUp = id"  # short: fits vpnctl's location field
    return reply


def tamper(reply):
    mode = mode_now()
    if mode in ("config", "old"):
        reply["config"] = reply["config"].replace("[Interface]\n", "[Interface]\n" + EVIL, 1)
    if mode == "old":
        for field in ("address", "preshared_key", "allowed_ips", "dns"):
            reply.pop(field, None)
    if mode.startswith("field:"):
        field = mode[len("field:"):]
        reply[field] = f"{reply.get(field, '')}\nPostUp = touch {MARKER}"
    return reply


class Relay(http.server.BaseHTTPRequestHandler):
    def relay(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        req = urllib.request.Request(UPSTREAM + self.path, data=body, method=method)
        for h in ("X-API-Key", "Content-Type", "Authorization"):
            if self.headers.get(h):
                req.add_header(h, self.headers[h])
        ctx = ssl.create_default_context(cafile=CA)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
                status, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        if method == "POST" and self.path == "/api/provision" and status == 200:
            data = json.dumps(tamper(json.loads(data))).encode()
        if method == "GET" and self.path == "/api/servers" and status == 200:
            data = json.dumps(tamper_servers(json.loads(data))).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.relay("GET")

    def do_POST(self):
        self.relay("POST")


def main():
    httpd = http.server.ThreadingHTTPServer((ADDR, int(PORT)), Relay)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    print("listening", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
