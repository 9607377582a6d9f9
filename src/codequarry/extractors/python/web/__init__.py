"""Web routes of Python frameworks: Flask, FastAPI, Starlette, Django (and DRF routers), aiohttp.

Two steps, so that incremental runs stay correct when a prefix lives in another file:

- the file extractor ``python.web.route_facts`` (:mod:`.routes`) writes what each file says on its
  own: route declarations (``route_decls``), router objects and include/register edges
  (``route_mounts``), and the facts about functions and classes that may be handlers
  (``route_handlers``);
- the operation ``python.web.routes`` (:mod:`.operation`) joins them into ``routes``: one row per
  route and mount chain, with the full path, the handler's location and the auth facts.

Tables and columns are documented in ``docs/tables/routes.md``.
"""
