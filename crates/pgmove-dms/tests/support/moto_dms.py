#!/usr/bin/env python3
"""A local AWS DMS API for pgmove-dms's tests: moto's server with two patches.

1. Timestamps: moto's DMS answers dates as ISO strings ("2024-05-01T10:00:00.123456"), but the
   service's JSON protocol (and so the Rust SDK) expects epoch seconds. A WSGI middleware rewrites
   every string value under a key ending in Date, Time or Until into epoch seconds (UTC).
2. Connection tests: moto's TestConnection fails (500) when the pair was tested before; real DMS
   tests it again. A repeated test restarts the existing connection's test.
3. Task creation: real DMS takes a created task from `creating` to `ready`; moto leaves it in
   `creating` forever. Tasks are made `ready` on creation.

Listens on 127.0.0.1 only, on a free port, printed on stdout as `PORT <n>`. Exits when its
stdin closes (the test that started it ended, even by a crash) or on SIGTERM.
"""

import datetime
import json
import os
import re
import sys
import threading

from werkzeug.serving import make_server

import moto.dms.models as dms_models
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

_task_init = dms_models.FakeReplicationTask.__init__


def _task_init_ready(self, *args, **kwargs):
    _task_init(self, *args, **kwargs)
    self.status = "ready"


dms_models.FakeReplicationTask.__init__ = _task_init_ready

_test_connection = dms_models.DatabaseMigrationServiceBackend.test_connection


def _test_connection_again(self, replication_instance_arn, endpoint_arn):
    for c in self.connections:
        if c.replication_instance_arn == replication_instance_arn and c.endpoint_arn == endpoint_arn:
            c.status = "testing"
            return c
    return _test_connection(self, replication_instance_arn, endpoint_arn)


dms_models.DatabaseMigrationServiceBackend.test_connection = _test_connection_again

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
DATE_KEY = re.compile(r"(Date|Time|Until)$")


def epoch(value):
    d = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


def fix(value, key=""):
    if isinstance(value, dict):
        return {k: fix(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [fix(v, key) for v in value]
    if isinstance(value, str) and DATE_KEY.search(key) and ISO.match(value):
        return epoch(value)
    return value


class EpochTimestamps:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        seen = {}

        def capture(status, headers, exc_info=None):
            seen["status"] = status
            seen["headers"] = headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        if body[:1] == b"{":
            try:
                body = json.dumps(fix(json.loads(body))).encode()
            except ValueError:
                pass
        headers = [(k, v) for k, v in seen["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(seen["status"], headers)
        return [body]


def main():
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, EpochTimestamps(app), threaded=True)
    print(f"PORT {server.server_port}", flush=True)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
