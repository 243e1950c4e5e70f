"""The DingTalk server API client: the only package that speaks HTTP to DingTalk."""

from __future__ import annotations

from reconciler.dingtalk.client import DEFAULT_BASE_URL, DingTalkClient

__all__ = ["DEFAULT_BASE_URL", "DingTalkClient"]
