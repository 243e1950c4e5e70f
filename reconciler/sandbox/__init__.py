"""The embedded DingTalk tenant: the default target without credentials and the test double.

    from reconciler.sandbox import Sandbox, serve
    sb = Sandbox()                                   # in-memory; Sandbox(path) persists
    client = httpx.AsyncClient(base_url=sb.base_url, transport=sb.transport())
    with serve(sb) as server: ...                    # the same tenant over HTTP: server.url

See `profile.py` for how strictly it reads DingTalk's documents (STRICT by default), `core.py`
for the request pipeline (auth, 20 QPS per API, faults) and `tenant.py` for the
rules and errcodes it enforces.
"""

from __future__ import annotations

from reconciler.sandbox.core import (
    APP_KEY,
    APP_SECRET,
    BASE_URL,
    READONLY_APP_KEY,
    READONLY_APP_SECRET,
    TOKEN_TTL,
    Sandbox,
    Write,
    default_db_path,
)
from reconciler.sandbox.errors import ApiError, SimulatedTimeout
from reconciler.sandbox.faults import Faults, peak_per_second
from reconciler.sandbox.messages import AGENT_ID, Notice
from reconciler.sandbox.profile import LENIENT, PROFILES, STRICT, Profile, profile_from
from reconciler.sandbox.server import ServerHandle, serve
from reconciler.sandbox.tenant import Tenant

__all__ = [
    "AGENT_ID",
    "APP_KEY",
    "APP_SECRET",
    "BASE_URL",
    "LENIENT",
    "PROFILES",
    "READONLY_APP_KEY",
    "READONLY_APP_SECRET",
    "STRICT",
    "TOKEN_TTL",
    "ApiError",
    "Faults",
    "Notice",
    "Profile",
    "Sandbox",
    "ServerHandle",
    "SimulatedTimeout",
    "Tenant",
    "Write",
    "default_db_path",
    "peak_per_second",
    "profile_from",
    "serve",
]
