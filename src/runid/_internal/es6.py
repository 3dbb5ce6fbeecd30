"""ECMAScript ``Number.prototype.toString`` for IEEE-754 doubles (ECMA-262, 7.1.12.1).

RFC 8785 section 3.2.2.3 writes every JSON number the way ECMAScript prints a double. The digits
are the shortest decimal string that reads back as the same double; Python's ``repr(float)``
produces exactly those digits (David Gay's shortest round-trip, ties resolved toward the closer
value), so this module only re-lays them out under the ECMAScript rules:

- ``-0`` prints as ``0``;
- an integral value below ``1e21`` prints as digits without ``.0`` (``1e+20`` -> ``1`` and 20
  zeros);
- ``1e-6 <= |x| < 1e21`` prints in positional notation (``0.000001``, ``333333333.3333333``);
- anything else prints in exponent form with an explicit sign (``1e+21``, ``1e-7``,
  ``1.5e+300``).
"""

from __future__ import annotations

from runid.errors import CanonicalizationError

from ..errors import E_NAN

__all__ = ["format_number"]


def format_number(x: float) -> str:
    """Return the ECMAScript ``Number.prototype.toString`` form of the finite double ``x``.

    This is the number form RFC 8785 requires in canonical JSON.

    >>> [format_number(v) for v in (1.0, -0.0, 0.1, 1e21, 1e-7, 123e18, 5e-324)]
    ['1', '0', '0.1', '1e+21', '1e-7', '123000000000000000000', '5e-324']

    Raises :class:`~runid.errors.CanonicalizationError` (code ``E_NAN``) for NaN and the
    infinities, which JSON cannot represent.
    """
    if type(x) is not float:
        x = float(x)
    r = repr(x)
    if "e" not in r:
        # Python prints 1e-4 <= |x| < 1e16 positionally, with the same digits ECMAScript uses.
        if r[-2:] == ".0":
            return "0" if r == "-0.0" else r[:-2]
        if r[-1] in "nf":  # 'nan', 'inf', '-inf'
            raise CanonicalizationError(
                f"{r} is not a JSON number",
                code=E_NAN,
                hint="JSON has no NaN or Infinity; use null or a string instead",
            )
        return r
    # Exponent form "d[.ddd]e[+-]XX": |x| < 1e-4 or |x| >= 1e16.
    mantissa, _, exponent = r.partition("e")
    sign = ""
    if mantissa[0] == "-":
        sign = "-"
        mantissa = mantissa[1:]
    digits = mantissa.replace(".", "", 1)  # repr never leaves trailing zeros here
    k = len(digits)
    n = int(exponent) + 1  # the value is 0.<digits> * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    exp = f"e+{e}" if e >= 0 else f"e-{-e}"
    if k == 1:
        return sign + digits + exp
    return sign + digits[0] + "." + digits[1:] + exp
