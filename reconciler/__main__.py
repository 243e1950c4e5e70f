"""`python -m reconciler` runs the orgctl command line."""

from reconciler.cli import main

main()
