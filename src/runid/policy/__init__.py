"""Policy check: approved conditions for runs, evaluated per rule against declarations.

A policy (``docs/spec.md`` §17) is a small versioned YAML or JSON document that states the
conditions a run must meet: a pinned model, approved instruction digests, allowed parameter
ranges, approved index snapshots, components that must be present, allowed tools, runtime
constraints and observed facts. Every condition is one **named rule** (``model.version``,
``parameters.temperature.max``, ``components.runtime``...), and evaluating a policy against one run
gives each rule a result: ``pass``, ``fail`` (with what was expected, what was found and the JSON
Pointer of the value in the declaration or record) or ``not_applicable``.

The one principle behind every rule: a rule is *not applicable* when the thing it constrains is
declared not part of the run (``{"absent": "not_applicable"}``, a parameter or library the run does
not have, a record that is not at hand); it *fails* when the thing is part of the run but its value
is unknown (``not_recorded``, ``undisclosed``, ``provider_default``), because compliance cannot be
shown from the record.

This package is pure: it parses bytes and evaluates values, and reads no file, log or network.
Its modules: :mod:`~runid.policy._format` (the format's schema and docs),
:mod:`~runid.policy._load` (reading a policy), :mod:`~runid.policy._rules` (evaluating it, with
:mod:`~runid.policy._results` and :mod:`~runid.policy._versions`); they are private, and
everything public is here.

>>> from runid.examples import example
>>> policy = parse_policy(b'''
... policy: runid/policy/v1
... name: support-bot
... parameters:
...   temperature: {max: 0.3}
...   seed: {declared: true}
... ''')
>>> result = evaluate(policy, example("chat-hosted-model"))
>>> for rule in result.results:
...     print(rule.rule, rule.status, rule.message)
parameters.seed.declared fail the caller did not set it (provider default)
parameters.temperature.max pass 0.2 ≤ 0.3
>>> result.status
'fail'
"""

from __future__ import annotations

from ._format import POLICY_SPEC, json_schema, reference_markdown
from ._load import Policy, parse_policy, policy_problems
from ._results import FAIL, NA, PASS, Evaluation, RuleResult, Status
from ._rules import evaluate
from ._versions import version_in_range

__all__ = [
    "FAIL",
    "NA",
    "PASS",
    "POLICY_SPEC",
    "Evaluation",
    "Policy",
    "RuleResult",
    "Status",
    "evaluate",
    "json_schema",
    "parse_policy",
    "policy_problems",
    "reference_markdown",
    "version_in_range",
]
