"""Work notices (工作通知) about the people an apply changed, and before a leaving date.

`compose` (pure) decides who hears what; `deliver` sends it through the DingTalk client.
"""

from __future__ import annotations
