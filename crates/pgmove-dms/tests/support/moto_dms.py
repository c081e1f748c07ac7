#!/usr/bin/env python3
"""A local AWS DMS API for pgmove-dms's tests: moto's server with two patches.

1. Timestamps: moto's DMS answers dates as ISO strings ("2024-05-01T10:00:00.123456"), but the
   service's JSON protocol (and so the Rust SDK) expects epoch seconds. A WSGI middleware rewrites
   every string value under a key ending in Date, Time or Until into epoch seconds (UTC).
2. Connection tests: moto's TestConnection fails (500) when the pair was tested before; real DMS
   tests it again. A repeated test restarts the existing connection's test.
3. Task creation: real DMS takes a created task from `creating` to `ready`; moto leaves it in
   `creating` forever. Tasks are made `ready` on creation.
4. Start types: moto ignores StartReplicationTaskType and runs every started task. Here the
   full load is instant: a task started with `start-replication` whose settings say
   `StopTaskCachedChangesNotApplied` stops at once with DMS's stop reason
   (`CACHED_CHANGES_NOT_APPLIED`), as DMS does after its full load; `resume-processing` runs it.
   Tasks carry their `StopReason`.
5. A call log: with MOTO_CALL_LOG set, each call's operation (and a start's type) is appended
   to that file, one line each, so tests can check the order of calls.

Listens on 127.0.0.1 only, on a free port, printed on stdout as `PORT <n>`. Exits when its
stdin closes (the test that started it ended, even by a crash) or on SIGTERM.
"""

import datetime
import io
import json
import os
import re
import sys
import threading

from werkzeug.serving import make_server

import moto.dms.models as dms_models
from moto.dms.responses import DatabaseMigrationServiceResponse
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

_task_to_dict = dms_models.FakeReplicationTask.to_dict


def _task_to_dict_with_stop_reason(self):
    d = _task_to_dict(self)
    reason = getattr(self, "stop_reason", None)
    if reason:
        d["StopReason"] = reason
    return d


dms_models.FakeReplicationTask.to_dict = _task_to_dict_with_stop_reason


def _start_typed(self):
    arn = self._get_param("ReplicationTaskArn")
    kind = self._get_param("StartReplicationTaskType")
    task = self.dms_backend.start_replication_task(replication_task_arn=arn)
    task.stop_reason = None
    settings = task.replication_task_settings or ""
    if kind == "start-replication" and re.search(
        r'"StopTaskCachedChangesNotApplied"\s*:\s*true', settings
    ):
        task.status = "stopped"
        task.stop_date = dms_models.utcnow()
        task.stop_reason = "Stop Reason CACHED_CHANGES_NOT_APPLIED"
    return json.dumps({"ReplicationTask": task.to_dict()})


_stop = dms_models.FakeReplicationTask.stop


def _stop_by_user(self):
    _stop(self)
    self.stop_reason = "Stop Reason STOPPED_BY_USER"
    return self


dms_models.FakeReplicationTask.stop = _stop_by_user
DatabaseMigrationServiceResponse.start_replication_task = _start_typed

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


def log_call(environ):
    path = os.environ.get("MOTO_CALL_LOG")
    op = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
    if not path or not op:
        return
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    line = op
    if op == "StartReplicationTask":
        try:
            line += " " + json.loads(body).get("StartReplicationTaskType", "")
        except ValueError:
            pass
    with open(path, "a") as f:
        f.write(line + "\n")


class EpochTimestamps:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        log_call(environ)
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
