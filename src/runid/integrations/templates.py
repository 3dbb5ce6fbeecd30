"""The instruction template a prompt was rendered from: ``instructions.template`` (spec §7).

A system prompt is usually rendered from a template kept in the application (a file, a prompt
registry) with per-request variables. The prompt *as sent* is ``instructions.system``; the
template, its version and the variables say how it was made, so a changed template and a
changed retrieval are told apart. An adapter cannot see the template: it declares
``instructions.template`` as ``not_recorded`` unless the application passes one
(``template=``), built here.

>>> template, contents = instruction_template(
...     "support-answer", "Answer from these excerpts only:\\n{excerpts}", version="3",
...     variables={"excerpts": "Refunds take 5 days.", "max_sentences": 2})
>>> template["id"], template["version"], template["variables"]["max_sentences"]
('support-answer', '3', 2)
>>> template["variables"]["excerpts"]["size"], contents[1]
(20, b'Refunds take 5 days.')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..canonical import canonicalize
from ..digest import content_digest, content_ref
from ..errors import InputError

__all__ = ["instruction_template"]

NOT_RECORDED: dict[str, str] = {"absent": "not_recorded"}


def instruction_template(
    template_id: str,
    text: str,
    *,
    version: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[bytes]]:
    """``instructions.template`` for a prompt rendered from ``text``, and the content bytes
    to store with the run (pass them as ``contents=``): the template text, then each string
    variable.

    ``digest`` is the artifact digest of ``text`` (UTF-8); ``version`` None is recorded as
    ``not_recorded``. A string variable is content (a question, retrieved excerpts) and is
    kept by reference, like every other text of a declaration (§4.2); numbers, booleans and
    other JSON values are kept as they are. :class:`~runid.errors.InputError` for an empty id
    or text, or a variable that is not JSON.
    """
    if not isinstance(template_id, str) or not template_id:
        raise InputError("a template id must be a non-empty string", hint="e.g. 'support-answer'")
    if not isinstance(text, str) or not text:
        raise InputError("the template text must be a non-empty string")
    raw = text.encode("utf-8")
    contents = [raw]
    declared: dict[str, Any] = {}
    for name, value in (variables or {}).items():
        if isinstance(value, str):
            data = value.encode("utf-8")
            declared[str(name)] = dict(content_ref(data))
            if data not in contents:
                contents.append(data)
            continue
        try:
            canonicalize(value)
        except Exception as exc:
            raise InputError(
                f"template variable {name!r} is not a JSON value ({type(value).__name__})",
                hint="pass text, numbers, booleans, lists or objects",
            ) from exc
        declared[str(name)] = value
    template = {
        "id": template_id,
        "version": version if version else dict(NOT_RECORDED),
        "digest": content_digest(raw),
        "variables": declared,
    }
    return template, contents
