"""Hugging Face ``transformers`` capture: ``model.generate()`` and text-generation pipelines.

The declaration is built from the ``generate`` call as it is really made, just before it runs:

* ``model``: provider ``transformers``; the artifact digests (plain SHA-256, docs/adr/0002) of
  the weights files (``*.safetensors``, ``pytorch_model*.bin``, their index, and
  ``config.json``, which says what the tensors mean) and of the tokenizer files (including the
  chat template); ``dtype``; ``quantization`` from the model config (``not_applicable`` when
  none); ``adapters`` (``[]`` when no PEFT adapter is loaded, ``not_recorded`` when one is).
  File digests come from :mod:`runid.filedigest`, so a multi-GB weights file is read once and
  then recognised by ``stat`` (path, size, mtime, ctime, inode).
* ``parameters``: the *effective* generation config exactly as ``generate()`` computes it (the
  call's arguments over the model's ``generation_config`` over the library's global defaults),
  every entry marked ``declared`` (the caller set it) or ``default`` (with the value that
  applied). Flags that only shape the return value (``output_scores``,
  ``return_dict_in_generate``, ...) are not parameters; ``None`` means "not in effect" and is
  left out. ``seed`` is declared when the caller gives one (the adapter seeds torch with it).
* ``inputs``: one ``user`` message holding what the model really reads: the prompt text after
  the chat template (and any prefix), when tokenizing that text gives exactly the token ids
  ``generate`` receives (``tokenizer.add_special_tokens`` records how), otherwise the token ids
  themselves as canonical JSON (``application/json``). Either way the model input is fixed.
* ``instructions``: for a chat, the leading system messages as given and the chat template's
  digest; ``not_applicable`` for a plain prompt.
* ``runtime``: engine ``transformers`` and its version, ``torch``/``tokenizers``/
  ``safetensors``/``accelerate`` versions, platform, hardware class from the model's device,
  and determinism flags (deterministic algorithms, cuDNN flags, matmul precision, device type,
  seed). ``code`` is the application's revision (:func:`runid.runtime.application_code`)
  unless the caller passes one.
* ``context`` (the retrieval the prompt was built from) and ``inputs.truncation`` (how the
  history was cut) are what the caller declares (``context=``, ``truncation=``); not given,
  they are ``not_recorded``: a ``generate`` call does not show whether they happened.

Observed facts: ``finish_reason`` (``eos``: the last new token is an end-of-sequence token;
``length``: the new-token budget was used up; ``stop``: another stopping criterion), and the
input/output token counts. The output is the decoded continuation (new tokens only, special
tokens skipped).

Replay (the team's protocol): :data:`ENGINE` and :func:`replay` rebuild the call from a
declaration and its stored contents and run it again through the same code path.

A batch of one sequence per call is supported; a call this adapter cannot describe exactly
(custom logits processors or stopping criteria, an assistant model, a batch, padding) still
runs, and capture reports that it could not be recorded (``on_error`` of the recorder).

The package: ``_files`` finds the model's files and digests them, ``_declaration`` builds the
declaration, ``_capture`` runs calls under capture and ``_replay`` runs them again.
"""

from __future__ import annotations

from ._capture import generate, pipeline_call
from ._declaration import (
    ADD_SPECIAL,
    ENGINE,
    IGNORED_GENERATION_FIELDS,
    JSON_MEDIA,
    TEXT_MEDIA,
    declaration_from_generate,
    determinism_flags,
    effective_generation_config,
    runtime_component,
)
from ._files import NA, NOT_RECORDED, PROVIDER, gguf_file_type, hub_snapshot, model_component
from ._replay import replay

__all__ = [
    "ADD_SPECIAL",
    "ENGINE",
    "IGNORED_GENERATION_FIELDS",
    "JSON_MEDIA",
    "NA",
    "NOT_RECORDED",
    "PROVIDER",
    "TEXT_MEDIA",
    "declaration_from_generate",
    "determinism_flags",
    "effective_generation_config",
    "generate",
    "gguf_file_type",
    "hub_snapshot",
    "model_component",
    "pipeline_call",
    "replay",
    "runtime_component",
]
