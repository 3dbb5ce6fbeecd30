"""Capture: fix a run's declaration id before inference, then log a signed execution record.

The declaration is built *before* the call, from what will really be sent (a dict, or a builder
called with the scrubbed request), and its id is fixed on entry: the id exists before the
output does. When the call ends, a signed execution record (declaration id, times, observed
facts, output digests, ok or error outcome) is appended to the transparency log of a runid home
(explicit ``home``, else ``$RUNID_HOME``, else the default, as the CLI resolves it).

>>> import tempfile, pathlib, runid.examples
>>> from runid.home import Home
>>> home = Home(pathlib.Path(tempfile.mkdtemp()) / "home")
>>> _ = home.init_keys("runid.example/worker")
>>> recorder = Recorder(home)
>>> decl = runid.examples.example("chat-hosted-model")
>>> with recorder.capture(decl, request={"api_key": "sk-secret", "temperature": 0.2}) as run:
...     fixed_before = run.declaration_id      # known before the model answers
...     text = "Refunds take 5 business days."  # the model call goes here
...     _ = run.set_output(text)
...     run.observe(served_model="gpt-4o-mini-2024-07-18", finish_reason="stop",
...                 usage={"prompt_tokens": 812, "completion_tokens": 9, "total_tokens": 821})
>>> run.recorded, fixed_before == run.declaration_id, run.entry_index
(True, True, 0)
>>> run.record["observed"]["usage"]
{'input_tokens': 812, 'output_tokens': 9, 'other': {'total_tokens': 821}}
>>> run.header_value() == f"runid={run.execution_id}; decl={run.declaration_id}"
True

The decorator form, sync or async; the builder gets the call's arguments with secrets removed:

>>> def build(prompt: str, **kwargs: object) -> dict[str, object]:
...     assert "api_key" not in kwargs
...     return runid.examples.example("chat-hosted-model")
>>> @recorder.captured(build)
... def answer(prompt: str, *, api_key: str) -> str:
...     return prompt.upper()
>>> answer("hi", api_key="sk-secret")
'HI'

Durability. A recorder's runs go to one writer thread that appends every run waiting in one
SQLite transaction (group commit: concurrent or back-to-back runs share a commit; a checkpoint
is signed at most once a second and when the writer closes its log, ADR 0019).
``durability="sync"`` (default) returns once the run's record is committed;
``durability="background"`` returns at once and the record is committed within one commit's
time: :meth:`Run.wait`, :meth:`Recorder.flush` (also ``close()``, ``with``, and interpreter
exit) wait for it. A crash loses at most the not yet committed tail, in capture
order, and never corrupts the log (docs/capture-reference.md):

>>> with Recorder(home, durability="background") as fast:
...     with fast.capture(decl) as run:
...         _ = run.set_output("Refunds take 5 business days.")
...     run.execution_id == run.record["execution_id"]   # known at once
True
>>> run.wait(), run.entry_index    # committed by the writer thread
(True, 2)

Recording never breaks the call. When it fails, ``on_error`` decides: ``"warn"`` (default:
:class:`CaptureWarning` with runid's message), ``"raise"`` (:class:`CaptureError`, carrying the
call's ``result``), or ``"queue"`` (keep the signed envelope in memory; it is appended on the
next successful capture or :meth:`Recorder.flush`). An exception of the call itself propagates
unchanged, after its error outcome was recorded.

Inside the package (private modules, public names only at this path): ``_run`` (:class:`Run`,
the errors, :func:`current_run`), ``_recorder`` (:class:`Recorder` and the module-level
functions), ``_writer`` (group commit and fork safety: ADR 0006), ``_observed`` (usage and
observed facts, pure), ``_otel`` (OpenTelemetry: a span per run).
"""

from __future__ import annotations

from ._observed import BYTES_MEDIA, NOT_RECORDED, TEXT_MEDIA, usage_fields
from ._recorder import Durability, OnError, Recorder, capture, captured, flush
from ._run import CaptureError, CaptureWarning, DeclarationSource, Run, current_run
from ._writer import MAX_QUEUE

__all__ = [
    "BYTES_MEDIA",
    "MAX_QUEUE",
    "NOT_RECORDED",
    "TEXT_MEDIA",
    "CaptureError",
    "CaptureWarning",
    "DeclarationSource",
    "Durability",
    "OnError",
    "Recorder",
    "Run",
    "capture",
    "captured",
    "current_run",
    "flush",
    "usage_fields",
]
