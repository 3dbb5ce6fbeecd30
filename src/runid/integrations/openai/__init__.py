"""The OpenAI client adapter: capture around the real ``openai`` client, built on pure mappings.

Capture (the call goes through the client given; its run is recorded by a
:class:`runid.capture.Recorder`):

* :func:`create_chat` / :func:`acreate_chat` (``OpenAI`` / ``AsyncOpenAI``) and
  :func:`create_response` / :func:`acreate_response` (the Responses API) return
  ``(response, run)``; with
  ``stream=True`` the response is a :class:`RecordedStream` / :class:`AsyncRecordedStream`
  that yields the chunks as they come and records the run when the stream ends, fails or is
  closed early.
* :func:`replay` re-runs a recorded chat declaration (the replay protocol, engine
  :data:`ENGINE`), through :func:`request_from_declaration`, the inverse of the mapping, over
  the client :func:`replay_client` gives (the agent loop replay's client too).

The pure mappings, which call nothing and record nothing:

* :func:`declaration_from_chat_request` turns the keyword arguments of
  ``client.chat.completions.create(...)``, as actually sent, into a v1 declaration and the
  content blobs it references (``{digest: bytes}``); :func:`declaration_from_responses_request`
  does the same for ``client.responses.create(...)``.
* :func:`observed_from_chat_response` gives the record's ``observed`` facts (served model,
  system fingerprint, response id, usage, finish reason) and :func:`output_bytes` the output;
  :class:`StreamAccumulator` gives both for a streamed call, chunk by chunk.

The request is read, never the client: API keys, ``extra_headers`` (``Authorization``) and
``extra_query`` never enter a declaration. Every sampling parameter in
:data:`CHAT_SAMPLING_PARAMETERS` is listed: ``declared`` when the request set it,
``{"source": "provider_default"}`` when it did not, so "left to the server" is recorded, never
silent. ``stream``/``stream_options``, ``timeout`` and bookkeeping fields (``metadata``,
``store``, ``user``, ...) do not change what the model computes and are not part of the
declaration: a streamed and a non-streamed call of the same request have the same id. A
request v1 cannot carry is :class:`~runid.errors.InputError` ``E_REQUEST`` (a ``base_url``
that is not an absolute URL ``E_ENDPOINT``); the capture functions report it as the recorder's
``on_error`` says and still make the call.

The modules: ``_common`` (constants, model and parameters components, runtime, observed facts),
``_chat`` and ``_responses`` (the pure mappings of the two APIs), ``_streams``, ``_capture``
and ``_replay``. The message, tool and output mapping is :mod:`runid.integrations._chat`,
shared with the llama.cpp adapter.

What the request does not show is declared by the application or recorded as not recorded,
never as "not applicable" (docs/spec.md §4.1): the retrieval ``context``, the instruction
``template``, the ``truncation`` of the history, and the served model's identity (which file the
server loaded: ``served_model=`` a probe such as
:func:`runid.integrations.served.llama_cpp_server`, ``model_files=``, ``model_digest=``). The
endpoint is not a condition (``model.endpoint`` is ``not_applicable``): where the model was
reached is the record's ``observed.endpoint`` (ADR 0014), so one model served on another port
has the same declaration id.

>>> decl, blobs = declaration_from_chat_request(
...     {"model": "smollm2", "temperature": 0,
...      "messages": [{"role": "system", "content": "Be brief."},
...                   {"role": "user", "content": "Hi"}]},
...     base_url="http://user:pw@127.0.0.1:8080/v1/", runtime=EXAMPLE_RUNTIME)
>>> decl["parameters"]["temperature"], decl["parameters"]["seed"]
({'source': 'declared', 'value': 0}, {'source': 'provider_default'})
>>> decl["model"]["endpoint"], decl["model"]["weights"], decl["context"]
({'absent': 'not_applicable'}, {'absent': 'not_recorded'}, {'absent': 'not_recorded'})
>>> sorted(blobs.values())
[b'Be brief.', b'Hi']
"""

from __future__ import annotations

from .._chat import JSON_MEDIA as JSON_MEDIA
from .._chat import NA as NA
from .._chat import NOT_RECORDED as NOT_RECORDED
from .._chat import TEXT_MEDIA as TEXT_MEDIA
from ..instrument import instrument as instrument
from ..instrument import uninstrument as uninstrument
from ._capture import acreate_chat, acreate_response, create_chat, create_response
from ._chat import (
    chat_components,
    declaration_from_chat_request,
    observed_from_chat_response,
    output_bytes,
    output_media_type,
)
from ._common import (
    CHAT_SAMPLING_PARAMETERS,
    ENGINE,
    EXAMPLE_RUNTIME,
    IGNORED_REQUEST_FIELDS,
    PROVIDER,
    RESPONSES_ENGINE,
    RESPONSES_SAMPLING_PARAMETERS,
    default_runtime,
    endpoint_of,
)
from ._common import PROVIDER_DEFAULT as PROVIDER_DEFAULT
from ._replay import (
    declared_conditions,
    recorded_endpoint,
    replay,
    replay_client,
    request_from_declaration,
)
from ._responses import (
    declaration_from_responses_request,
    observed_from_responses_response,
    responses_output_bytes,
    responses_output_media_type,
)
from ._streams import (
    AsyncRecordedStream,
    RecordedStream,
    ResponsesStreamAccumulator,
    StreamAccumulator,
)

__all__ = [
    "CHAT_SAMPLING_PARAMETERS",
    "ENGINE",
    "EXAMPLE_RUNTIME",
    "IGNORED_REQUEST_FIELDS",
    "PROVIDER",
    "RESPONSES_ENGINE",
    "RESPONSES_SAMPLING_PARAMETERS",
    "AsyncRecordedStream",
    "RecordedStream",
    "ResponsesStreamAccumulator",
    "StreamAccumulator",
    "acreate_chat",
    "acreate_response",
    "chat_components",
    "create_chat",
    "create_response",
    "declaration_from_chat_request",
    "declaration_from_responses_request",
    "declared_conditions",
    "default_runtime",
    "endpoint_of",
    "observed_from_chat_response",
    "observed_from_responses_response",
    "output_bytes",
    "output_media_type",
    "recorded_endpoint",
    "replay",
    "replay_client",
    "request_from_declaration",
    "responses_output_bytes",
    "responses_output_media_type",
]
