"""orgctl: a DingTalk (钉钉) org directory kept as code — plan, apply, drift, attendance."""

__version__ = "0.1.0"
