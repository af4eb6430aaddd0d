"""``python -m procrecord``."""

from procrecord.cli import main

main()
