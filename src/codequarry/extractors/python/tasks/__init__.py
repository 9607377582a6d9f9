"""Code that runs outside the request path: background task definitions (:mod:`.definitions`:
Celery, RQ, Dramatiq, ...) and test suites (:mod:`.testsuite`: tests, fixtures, what they cover)."""
