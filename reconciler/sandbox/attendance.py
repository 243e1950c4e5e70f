"""Attendance (考勤) endpoints of the sandbox tenant — filled in by the attendance engineer.

`ROUTES` maps an API path (no leading slash, e.g. ``"attendance/list"`` or
``"topapi/attendance/record/upload"``) to a handler. The sandbox router dispatches any path
found here through the same layers as the contacts API: access_token check (41001/40014/
42001), the per-path 20 QPS token bucket (90018), the fault knobs, then the handler.

A handler gets the `Tenant` and the parsed JSON body and returns the response body as a dict
with ``errcode`` 0 (the router adds ``request_id`` to ``topapi/*`` answers), or raises
`reconciler.sandbox.errors.ApiError(errcode, errmsg)`. It runs inside a transaction with
``tenant.lock`` held: use ``tenant.db`` directly; an ApiError rolls its writes back. A path
whose last segment is create/update/delete/upload/add/remove/save/set is a write and lands in
the write log. Tables: call ``reconciler.sandbox.tenant.register_schema("CREATE TABLE IF NOT
EXISTS …")`` at import time; ``Tenant.reset()`` empties them with everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.sandbox.tenant import Tenant

ROUTES: dict[str, Callable[[Tenant, dict[str, Any]], dict[str, Any]]] = {}
