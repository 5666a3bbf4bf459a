"""`python -m nautlive.venues.ibkr CAPTURE OUT`: write a catalog from captured IB contract details."""

from nautlive.venues.ibkr.contracts import main

main()
