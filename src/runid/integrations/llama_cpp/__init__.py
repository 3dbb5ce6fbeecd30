"""The llama.cpp adapter: ``llama_cpp.Llama.create_chat_completion(...)`` called in-process.

No server, no HTTP: the model is a GGUF file on this machine, so everything about it is known
before the call and is declared:

* ``model``: provider ``llama.cpp``, the GGUF file name, its artifact digest (plain SHA-256,
  through the stat-keyed cache of :mod:`runid.filedigest`, so a 100 MB file is hashed once, not
  on every call) as ``weights`` and ``tokenizer`` (a GGUF file carries its tokenizer), the
  quantization named by the file's ``general.file_type`` metadata (``Q4_1``), LoRA adapters;
* ``parameters``: every sampling parameter of ``create_chat_completion``; one the call did not
  set is ``{"source": "default", "value": V}`` with the default llama-cpp-python really applies
  (read from the installed library's signature, so a new release's defaults are recorded as
  they are). ``None`` defaults are recorded as what they mean: ``logprobs`` false,
  ``top_logprobs`` 0, ``logit_bias`` ``{}``, ``max_tokens`` None as ``n_predict: -1`` (llama.cpp's
  spelling of "until the context window is full", which is what llama-cpp-python passes down;
  ``max_tokens`` must be >= 1 in a declaration), and a missing ``seed`` as the effective seed
  llama-cpp-python derives from the instance's seed state for this call (it advances after every
  call, so two unseeded calls really sample with different seeds). The engine settings that shape
  the computation are declared too: ``n_ctx``, ``n_batch``, ``repeat_last_n`` (the instance's
  ``last_n_tokens_size``), ``chat_format`` and the digest of the GGUF's ``chat_template``;
* ``instructions``, ``inputs``, ``tools``, ``constraints``: the same shapes as the OpenAI
  adapter (the chat mapping both share, :mod:`runid.integrations._chat`, builds them);
* ``context``: the retrieval component the caller passes (see
  :mod:`runid.integrations.retrieval`), else ``not_recorded`` (the adapter cannot see whether
  the prompt was built from a retrieval; ``{"absent": "not_applicable"}`` states there was
  none); ``instructions.template`` and ``inputs.truncation`` likewise (``template=``,
  ``truncation=``);
* ``runtime``: engine ``llama.cpp`` with the llama-cpp-python version, OS, arch, Python, the
  hardware class (CPU unless layers are offloaded), the application's revision as ``code``
  (:func:`runid.runtime.application_code`).

The declaration is built from :class:`EngineFacts` and the request by a pure function:

>>> facts = EngineFacts(model_file="m.Q4_1.gguf", digest="sha256:" + "ab" * 32, size=10,
...     quantization="Q4_1", n_ctx=2048, n_batch=512, repeat_last_n=64,
...     chat_format="chatml", chat_template=None, lora=None, gpu_layers=0, version="0.3.36")
>>> decl, blobs = declaration_from_request(
...     facts, {"messages": [{"role": "user", "content": "Hi"}], "temperature": 0},
...     seed=7, defaults={"temperature": 0.2, "top_k": 40, "stop": []})
>>> decl["parameters"]["temperature"], decl["parameters"]["top_k"], decl["parameters"]["seed"]
({'source': 'declared', 'value': 0}, {'source': 'default', 'value': 40}, \
{'source': 'default', 'value': 7})
>>> decl["model"]["quantization"], decl["runtime"]["engine"]["name"]
('Q4_1', 'llama.cpp')

:func:`create_chat` runs the call under capture; :func:`replay` re-executes a recorded
declaration (the team's replay protocol, :mod:`runid.replay`).

The modules: ``_declaration`` (engine facts, defaults, the pure mapping), ``_capture``
(:func:`create_chat`) and ``_replay``.
"""

from __future__ import annotations

from ._capture import create_chat
from ._declaration import (
    ENGINE,
    NA,
    NOT_RECORDED,
    PROVIDER,
    SAMPLING_PARAMETERS,
    TEXT_MEDIA,
    EngineFacts,
    declaration_from_request,
    effective_defaults,
    engine_facts,
    next_seed,
)
from ._replay import replay, request_from_declaration

__all__ = [
    "ENGINE",
    "NA",
    "NOT_RECORDED",
    "PROVIDER",
    "SAMPLING_PARAMETERS",
    "TEXT_MEDIA",
    "EngineFacts",
    "create_chat",
    "declaration_from_request",
    "effective_defaults",
    "engine_facts",
    "next_seed",
    "replay",
    "request_from_declaration",
]
