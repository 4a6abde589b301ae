"""Web pieces both Quart apps share (the aggregation server and the standalone service)."""
