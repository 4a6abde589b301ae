"""Aggregation server: receives anonymous usage reports and answers the maintainer's questions."""
