"""Finding a transformers model's files and digesting them: the ``model`` component.

The files are in a local directory, in a snapshot of the Hugging Face cache, or in one GGUF file;
their artifact digests (docs/adr/0002) come from :mod:`runid.filedigest`.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...filedigest import FileDigestCache, file_digest

__all__ = [
    "NA",
    "NOT_RECORDED",
    "PROVIDER",
    "gguf_file",
    "gguf_file_type",
    "hub_snapshot",
    "model_component",
]

PROVIDER = "transformers"
NA: dict[str, str] = {"absent": "not_applicable"}
NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}
_WEIGHT_FILE = re.compile(
    r"(.*\.safetensors|.*\.safetensors\.index\.json|pytorch_model.*\.bin|.*\.bin\.index\.json"
    r"|config\.json)"
)
_TOKENIZER_FILE = re.compile(
    r"(tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|added_tokens\.json"
    r"|vocab\.json|vocab\.txt|merges\.txt|.*\.model|chat_template\.jinja|chat_template\.json"
    r"|additional_chat_templates/.*\.jinja)"
)


# --- model ------------------------------------------------------------------------------------


def _local_dir(value: object) -> Path | None:
    if isinstance(value, str | Path) and str(value) and Path(value).is_dir():
        return Path(value)
    return None


_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_SNAPSHOT = re.compile(r"models--(?P<org>[^/]+?)--(?P<name>[^/]+)/snapshots/(?P<rev>[0-9a-f]{40})")


@functools.lru_cache(maxsize=64)
def hub_snapshot(repo_id: str) -> Path | None:
    """The local Hugging Face cache snapshot of ``repo_id`` (its ``main`` ref), never fetched.

    Resolved once per process: the model in memory was loaded from it and does not change.
    """
    try:
        from huggingface_hub import snapshot_download

        found = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached, or no huggingface_hub: the files are not at hand
        return None
    return _local_dir(found)


def _resolve(value: object) -> tuple[Path | None, str | None, str | None]:
    """``(directory, repo id, revision)`` for a ``name_or_path``: a local directory, a snapshot
    directory of the Hugging Face cache, or a repo id found in that cache."""
    directory = _local_dir(value)
    if directory is None and isinstance(value, str) and _REPO_ID.fullmatch(value):
        directory = hub_snapshot(value)
    if directory is None:
        return None, None, None
    match = _SNAPSHOT.search(directory.as_posix())
    if match is None:
        return directory, None, None
    return directory, f"{match['org']}/{match['name']}", match["rev"]


_NESTED = "additional_chat_templates"  # the one subdirectory a checkpoint has (templates)
_listings: dict[tuple[str, int, int], list[tuple[str, str]]] = {}


def _listing(directory: Path) -> list[tuple[str, str]]:
    """``[(relative name, path)]`` of the checkpoint's files, sorted; hidden names skipped.

    Cached by the directory's and its template subdirectory's mtime (adding, removing or
    renaming a file moves them), so repeated captures do not walk the directory.
    """
    top = os.fspath(directory)
    nested = os.path.join(top, _NESTED)
    try:
        top_mtime = os.stat(top).st_mtime_ns
        nested_mtime = os.stat(nested).st_mtime_ns if os.path.isdir(nested) else -1
    except OSError:
        return []
    key = (top, top_mtime, nested_mtime)
    found = _listings.get(key)
    if found is None:
        found = []
        for base, prefix in ((top, ""), (nested, _NESTED + "/")):
            if base == nested and nested_mtime < 0:
                continue
            with os.scandir(base) as entries:
                for entry in entries:
                    if not entry.name.startswith(".") and entry.is_file():
                        found.append((prefix + entry.name, entry.path))
        found.sort()
        _listings[key] = found
    return found


def _artifacts(
    directory: Path | None, pattern: re.Pattern[str], cache: FileDigestCache | None
) -> list[dict[str, Any]] | dict[str, str]:
    if directory is None:
        return dict(NOT_RECORDED)
    found = [
        {"name": name, "digest": file_digest(path, cache=cache), "size": os.stat(path).st_size}
        for name, path in _listing(directory)
        if pattern.fullmatch(name)
    ]
    return found if found else dict(NOT_RECORDED)


def _dtype(model: Any) -> str | dict[str, str]:
    dtype = getattr(model, "dtype", None)
    return str(dtype).removeprefix("torch.") if dtype is not None else dict(NOT_RECORDED)


def _quantization(model: Any) -> str | dict[str, str]:
    config = getattr(getattr(model, "config", None), "quantization_config", None)
    if config is None:
        return dict(NA)
    method = config.get("quant_method") if isinstance(config, Mapping) else None
    method = method or getattr(config, "quant_method", None)
    method = getattr(method, "value", method)  # an enum in transformers
    return str(method) if method else dict(NOT_RECORDED)


def model_component(
    model: Any,
    tokenizer: Any = None,
    *,
    model_path: str | Path | None = None,
    tokenizer_path: str | Path | None = None,
    name: str | None = None,
    cache: FileDigestCache | None = None,
) -> dict[str, Any]:
    """The ``model`` component of a local transformers model.

    ``model_path`` is the directory the model was loaded from (default: ``model.name_or_path``
    when it is a local directory, or a repo id whose snapshot is in the local Hugging Face cache;
    otherwise weights are ``not_recorded``); ``tokenizer_path`` likewise (default: the
    tokenizer's ``name_or_path``, else ``model_path``). ``name`` defaults to the repo id for a
    hub snapshot (``version``: its commit), else to the directory's name: a path is a machine
    detail and never enters the id.
    """
    gguf = gguf_file(model_path)
    if gguf is not None:
        return _gguf_model_component(model, gguf, tokenizer_path, name=name, cache=cache)
    directory, repo_id, revision = _resolve(model_path)
    if directory is None:
        directory, repo_id, revision = _resolve(getattr(model, "name_or_path", None))
    tok_dir = (
        _resolve(tokenizer_path)[0]
        or _resolve(getattr(tokenizer, "name_or_path", None))[0]
        or directory
    )
    if name is None:
        if repo_id is not None:
            name = repo_id
        else:
            name = directory.resolve().name if directory is not None else type(model).__name__
    adapters: Any = []
    if getattr(model, "_hf_peft_config_loaded", False) or getattr(model, "peft_config", None):
        adapters = dict(NOT_RECORDED)  # adapter files are not hashed in v1 of this adapter
    return {
        "provider": PROVIDER,
        "name": name,
        # A hub snapshot's commit is its version; of a local directory the adapter knows none
        # (not that it has none): the digests identify it.
        "version": revision if revision is not None else dict(NOT_RECORDED),
        "endpoint": dict(NA),  # in-process
        "weights": _artifacts(directory, _WEIGHT_FILE, cache),
        "tokenizer": _artifacts(tok_dir, _TOKENIZER_FILE, cache),
        "dtype": _dtype(model),
        "quantization": _quantization(model),
        "adapters": adapters,
    }


def gguf_file(value: object) -> Path | None:
    """``value`` as a GGUF file (a model loaded with ``from_pretrained(DIR, gguf_file=NAME)``)."""
    if isinstance(value, str | Path) and str(value).endswith(".gguf") and Path(value).is_file():
        return Path(value)
    return None


def gguf_file_type(path: str | Path) -> str | None:
    """The quantization a GGUF file's weights are stored in (``general.file_type``, e.g.
    ``Q4_1``), read with the ``gguf`` package; None when it cannot be read."""
    try:
        import gguf

        reader = gguf.GGUFReader(os.fspath(path), "r")
        field = reader.fields.get("general.file_type")
        if field is None:
            return None
        value = int(field.parts[field.data[0]][0])
        return str(gguf.LlamaFileType(value).name).removeprefix("MOSTLY_")
    except Exception:  # no gguf package, or a file it cannot read: not recorded
        return None


def _gguf_model_component(
    model: Any,
    gguf: Path,
    tokenizer_path: str | Path | None,
    *,
    name: str | None,
    cache: FileDigestCache | None,
) -> dict[str, Any]:
    """A model loaded from one GGUF file: the file is the weights and, unless a tokenizer
    directory is given, the tokenizer (a GGUF file carries its vocabulary). transformers
    dequantizes the tensors on load: ``quantization`` is the file's storage type and ``dtype``
    the type computed in."""
    artifact = [
        {"name": gguf.name, "digest": file_digest(gguf, cache=cache), "size": os.stat(gguf).st_size}
    ]
    tok_dir = _resolve(tokenizer_path)[0]
    quantization = gguf_file_type(gguf)
    return {
        "provider": PROVIDER,
        "name": name if name is not None else gguf.name,
        "version": dict(NOT_RECORDED),  # a local file: its digest identifies it
        "endpoint": dict(NA),  # in-process
        "weights": artifact,
        "tokenizer": _artifacts(tok_dir, _TOKENIZER_FILE, cache) if tok_dir else list(artifact),
        "dtype": _dtype(model),
        "quantization": quantization if quantization else dict(NOT_RECORDED),
        "adapters": [],
    }
