"""Unit conversions: the only constants symroof's code holds. Each is a definition, not a measurement."""

DAY = 86400            # seconds
YEAR = 365 * DAY       # the book's years are 365 days
