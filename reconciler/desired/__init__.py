"""The desired org: YAML under the org directory → `Org` + `Policy`, problems with file:line:col.

Pure apart from reading the files it is pointed at; never talks to DingTalk.
"""
