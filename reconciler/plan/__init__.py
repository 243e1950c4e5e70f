"""Pure: (desired, live) → an ordered, checked `Plan`, and its renderings.

No I/O and no client imports: every module here is a function of its arguments.
"""
