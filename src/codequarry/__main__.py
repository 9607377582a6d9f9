"""`python -m codequarry` is `quarry`."""

from codequarry.cli import main

main()
