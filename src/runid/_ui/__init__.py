"""The web UI of runid (the edge layer): runs, a run, diffs, drift and the log, as pages.

``runid ui`` serves a home read-only on 127.0.0.1 (:func:`~runid._ui.app.ui_app`); the log
service mounts the same pages per project (:mod:`runid._ui.service`). Pages are rendered on
the server from the library's results (:mod:`runid.diff`, :mod:`runid.policy`,
:mod:`runid.log`): plain HTML and one stylesheet shipped in the package, no script, nothing
fetched from elsewhere. Modules: :mod:`~runid._ui.app` (routes, errors, headers),
:mod:`~runid._ui.source` (runs page by page from the lookup indexes),
:mod:`~runid._ui.inspect` (a run's verification, tree heads), :mod:`~runid._ui.local` (a
home), the pages (:mod:`~runid._ui.pages`, :mod:`~runid._ui.diffpage`,
:mod:`~runid._ui.drift`, :mod:`~runid._ui.logpage`, :mod:`~runid._ui.tree`,
:mod:`~runid._ui.layout`) and :mod:`~runid._ui.html` (escaping by default).
"""
