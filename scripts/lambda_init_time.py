#!/usr/bin/env python3
"""Measures a Lambda bootstrap's init phase locally: starts the binary against a minimal Runtime
API on 127.0.0.1 and times from process start to its first `GET /runtime/invocation/next`, which
the runtime sends only after `main` has read its environment and built its AWS clients. Nothing
is invoked and no AWS endpoint is contacted (the SDK resolves credentials lazily).

Usage: lambda_init_time.py BOOTSTRAP [RUNS]   (prints min/median/max in milliseconds)
"""

import http.server
import os
import socketserver
import statistics
import subprocess
import sys
import threading
import time

FUNCTION_ENV = {
    "TABLE_NAME": "personio-lms-state",
    "SECRET_PREFIX": "personio-lms/stack/",
    "SYNC_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/123456789012/sync-jobs",
    "SES_FROM_ADDRESS": "personio-lms@example.com",
    "RUN_RETENTION_DAYS": "90",
    "AWS_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "LOCALACCESSKEY",
    "AWS_SECRET_ACCESS_KEY": "localsecretkey",
    "AWS_LAMBDA_FUNCTION_NAME": "init-time",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_STREAM_NAME": "local",
    "AWS_LAMBDA_LOG_GROUP_NAME": "local",
    "AWS_LAMBDA_LOG_FORMAT": "JSON",
    "RUST_LOG": "info",
}


def measure(bootstrap):
    first_poll = threading.Event()

    class RuntimeApi(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server naming)
            if self.path.endswith("/runtime/invocation/next"):
                first_poll.set()
                # Hold the long poll until the process is stopped.
                time.sleep(2)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), RuntimeApi) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        env = dict(FUNCTION_ENV, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
                   PATH=os.environ.get("PATH", ""))
        started = time.perf_counter()
        process = subprocess.Popen([bootstrap], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        polled = first_poll.wait(timeout=10)
        elapsed = (time.perf_counter() - started) * 1000
        process.kill()
        _, stderr = process.communicate()
        server.shutdown()
        if not polled:
            raise SystemExit(f"{bootstrap} never polled the runtime API: {stderr.decode(errors='replace')}")
        return elapsed


def main():
    bootstrap = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    times = sorted(measure(bootstrap) for _ in range(runs))
    print(f"{bootstrap}: init {statistics.median(times):.1f} ms median "
          f"(min {times[0]:.1f}, max {times[-1]:.1f}, {runs} runs)")


if __name__ == "__main__":
    main()
