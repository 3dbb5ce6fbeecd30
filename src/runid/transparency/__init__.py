"""The log in public: static tiles, witnesses that cosign, and a monitor (the shell layer).

The formats and checks are pure and live in :mod:`runid.tlog`; these modules do the I/O:

* :mod:`runid.transparency.export`: ``runid log export-tiles``, the log as C2SP tlog-tiles
  static files;
* :mod:`runid.transparency.witness`: a witness's key and durable per-log state (SQLite);
* :mod:`runid.transparency.witnessing`: a log submitting its checkpoint to witnesses, keeping
  the cosigned checkpoint in its home, and receipts that carry the cosignatures;
* :mod:`runid.transparency.monitor`: ``runid monitor``, following a log over its tiles.

The witness's HTTP API is :mod:`runid._server.witness` (the edge layer).
"""
