"""`orgctl doctor`: find out how a tenant behaves before trusting it with a plan.

`probe` runs the checks — `reads`, `burst`, `writes` — sharing a `context`, through the clients
of `endpoint` (I/O through the DingTalk client); `apis` names what they call; `report` turns what
they observed into verdicts, a table and JSON (pure); `save` records the verdicts in orgctl.yaml.
"""
