"""A stand-in SMS gateway for `make run`: accepts POSTed messages (JSON or form) and writes each
to <folder>/<time>-<n>.json. Usage: sms_gateway.py HOST PORT FOLDER"""
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

host, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
count = 0


class Gateway(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-type", "").startswith("application/json"):
            message = json.loads(body)
        else:
            message = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        count += 1
        with open(f"{folder}/{time.strftime('%Y%m%dT%H%M%S')}-{count}.json", "w") as f:
            json.dump(message, f, ensure_ascii=False, indent=1)
        self.send_response(202)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status":"queued"}')


ThreadingHTTPServer((host, port), Gateway).serve_forever()
