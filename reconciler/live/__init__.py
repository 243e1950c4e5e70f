"""The live org: which tenant to talk to, reading it into an `Org`, and writing it out as YAML."""
