#!/usr/bin/env python3
"""A minimal OTLP/HTTP metrics receiver for starve's tests: decodes each request with the
official opentelemetry-proto package and prints one JSON line per request on stdout.

usage: otlp-receiver.py [--port P] [--answers 503,200] [--retry-after S]
Prints `listening PORT` first. Answers are used in order, the last one repeated.
"""
import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--answers", default="200")
    ap.add_argument("--retry-after", default="1")
    args = ap.parse_args()
    answers = [int(a) for a in args.answers.split(",")]
    count = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = answers[min(count[0], len(answers) - 1)]
            count[0] += 1
            record = {"n": count[0], "path": self.path, "status": status, "t": time.monotonic(),
                      "content_type": self.headers.get("Content-Type")}
            try:
                req = metrics_service_pb2.ExportMetricsServiceRequest()
                req.ParseFromString(body)
                rm = req.resource_metrics[0]
                record["resource"] = {a.key: a.value.string_value for a in rm.resource.attributes}
                metrics = {}
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        kind = m.WhichOneof("data")
                        data = getattr(m, kind)
                        entry = {"type": kind, "unit": m.unit, "points": len(data.data_points)}
                        if kind == "sum":
                            entry["monotonic"] = data.is_monotonic
                            entry["temporality"] = data.aggregation_temporality
                        if kind == "histogram":
                            entry["temporality"] = data.aggregation_temporality
                            entry["consistent"] = all(sum(p.bucket_counts) == p.count and len(p.bucket_counts) == len(p.explicit_bounds) + 1
                                                      for p in data.data_points)
                        metrics[m.name] = entry
                record["metrics"] = metrics
            except Exception as e:  # what the test should see: it did not decode
                record["error"] = repr(e)
            print(json.dumps(record), flush=True)
            self.send_response(status)
            if status in (429, 503):
                self.send_header("Retry-After", args.retry_after)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
