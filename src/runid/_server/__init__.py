"""HTTP services of runid (the edge layer): ASGI apps on Starlette, served by uvicorn.

Install them with the ``server`` extra (``pip install 'runid[server]'``). Each service is a
module with an app factory; the commands that start them import these modules only when run,
so the rest of runid never needs the web stack.

* :mod:`runid._server.witness`: a C2SP tlog-witness (``runid witness serve``).
* :mod:`runid._server.api`: the log service (``runid serve``, docs/spec.md §21): the HTTP
  routes over :mod:`~runid._server.service`, with :mod:`~runid._server.registry` (projects,
  keys, tokens from the log's admin records), :mod:`~runid._server.ingest` (group commit),
  :mod:`~runid._server.search`, :mod:`~runid._server.openapi`, :mod:`~runid._server.access`
  (tokens) and :mod:`~runid._server.accesslog`.
"""
