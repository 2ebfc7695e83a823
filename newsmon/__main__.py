"""`python -m newsmon ...` runs the command line."""

from newsmon.cli import app

app(prog_name="newsmon")
