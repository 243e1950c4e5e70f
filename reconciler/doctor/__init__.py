"""`orgctl doctor`: find out how a tenant behaves before trusting it with a plan.

`probe` makes the calls (I/O through the DingTalk client); `report` turns what they observed
into verdicts, a table and JSON (pure); `save` records the verdicts in orgctl.yaml.
"""
