"""External tools as workers: recipes, limits, statuses, cache, reports."""
