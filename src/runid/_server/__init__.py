"""HTTP services of runid (the edge layer): ASGI apps on Starlette, served by uvicorn.

Install them with the ``server`` extra (``pip install 'runid[server]'``). Each service is a
module with an app factory; the commands that start them import these modules only when run,
so the rest of runid never needs the web stack.

* :mod:`runid._server.witness`: a C2SP tlog-witness (``runid witness serve``).
"""
