"""C2SP transparency-log formats for public audit: tiles, cosignatures, the witness protocol.

Pure formats and checks, no I/O (the core layer), next to the checkpoint, signed-note and proof
formats of :mod:`runid.checkpoint`, :mod:`runid.note` and :mod:`runid.proof`:

* :mod:`runid.tlog.tiles`: c2sp.org/tlog-tiles, the log as static files (hash tiles, entry
  bundles) and a tree read from them, authenticated against a signed root;
* :mod:`runid.tlog.cosignature`: c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1`` keys,
  signing and verifying;
* :mod:`runid.tlog.witness`: c2sp.org/tlog-witness, the ``add-checkpoint`` request and the
  checks a witness makes before it cosigns.

Exporting tiles, a witness's durable state, submitting to witnesses and monitoring a log do
I/O and live in :mod:`runid.transparency`.
"""
