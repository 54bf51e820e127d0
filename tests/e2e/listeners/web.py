"""A program with an HTTP endpoint on 127.0.0.1:PORT that answers for SECONDS, then hangs."""

import http.server
import sys
import time

PORT, SECONDS = int(sys.argv[1]), float(sys.argv[2])
START = time.monotonic()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if time.monotonic() - START > SECONDS:
            time.sleep(600)  # stops answering
        body = b"alive\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
