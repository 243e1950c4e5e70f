"""A `Plan` → DingTalk: the executor under the rate limits, the journal and the tenant lock."""
