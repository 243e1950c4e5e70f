"""The `world` of the end-to-end workflow tests (a git workspace with org/, a sandbox DingTalk
and a fake GitHub, both on loopback), for every module here that runs the workflows for real."""

from __future__ import annotations

from tests.workflows.test_workflows_e2e import world

__all__ = ["world"]
