"""Which issue an event belongs to (its grouping hash) and how that issue is titled."""
