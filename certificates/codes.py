"""Certificate codes: unguessable, readable aloud, and self-checking.

A code looks like ``LYC-7K3M-Q9XD-0F2H-VW4N-8RTB-C5JE-1PGA``: the ``LYC`` prefix, then
27 random symbols (135 bits from ``secrets``) and one check symbol, in groups of four.

Symbols come from Crockford's base32 alphabet: digits and upper-case letters without
I, L, O and U, so nothing looks like something else when printed or read out. The check
symbol is Luhn mod 32, which catches every single-symbol typo and nearly every swap of two
neighbours, so a mistyped code is rejected before it costs a database lookup.
"""

from __future__ import annotations

import secrets
import unicodedata

__all__ = [
    "CODE_PREFIX",
    "new_certificate_code",
    "normalize_code",
    "is_well_formed",
]

CODE_PREFIX = "LYC"

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {symbol: value for value, symbol in enumerate(_ALPHABET)}
_BASE = len(_ALPHABET)  # 32: even, which is what makes Luhn mod N catch every single typo
_RANDOM_SYMBOLS = 27  # 27 * 5 = 135 bits of entropy, above the 128 bits we promise
_GROUP = 4  # 27 random + 1 check = 28 symbols = 7 groups of 4
_SYMBOLS = _RANDOM_SYMBOLS + 1

# Crockford's decoding rules: letters people confuse with digits are read as those digits.
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
# Whatever people paste between groups: spaces, hyphens of every width, underscores, dots.
_SEPARATORS = frozenset("-_.\u2010\u2011\u2012\u2013\u2014\u2015\u2212")


def new_certificate_code() -> str:
    """Return a fresh certificate code in canonical form."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_SYMBOLS))
    return _format(body + _check_symbol(body))


def normalize_code(text: str) -> str:
    """Return the canonical form of a code as a person might type or paste it.

    Tolerates any case, spaces and dashes anywhere, a missing ``LYC`` prefix, and
    Crockford's look-alikes (I and L for 1, O for 0). Raises ``ValueError`` when the text
    cannot be a code at all (wrong length or foreign characters). It does not verify the
    check symbol: use :func:`is_well_formed` for that.
    """
    compact = "".join(
        ch
        for ch in unicodedata.normalize("NFKC", text).upper()
        if not ch.isspace() and ch not in _SEPARATORS
    )
    # Strip the prefix before mapping look-alikes: the L of LYC is not a one. The length
    # decides, so a bare code whose data happens to start with "1YC" typed as "lyc" is safe.
    if len(compact) == len(CODE_PREFIX) + _SYMBOLS and compact.startswith(CODE_PREFIX):
        compact = compact[len(CODE_PREFIX) :]
    if len(compact) != _SYMBOLS:
        raise ValueError(f"a certificate code has {_SYMBOLS} symbols after its prefix")
    symbols = compact.translate(_LOOKALIKES)
    bad = sorted({ch for ch in symbols if ch not in _VALUE})
    if bad:
        raise ValueError(f"not allowed in a certificate code: {''.join(bad)!r}")
    return _format(symbols)


def is_well_formed(code: str) -> bool:
    """Tell whether ``code`` (any spelling ``normalize_code`` accepts) has a valid check symbol."""
    if not isinstance(code, str):  # callers pass raw request input; never raise on it
        return False
    try:
        symbols = normalize_code(code)[len(CODE_PREFIX) :].replace("-", "")
    except ValueError:
        return False
    return _check_symbol(symbols[:-1]) == symbols[-1]


def _format(symbols: str) -> str:
    groups = [symbols[i : i + _GROUP] for i in range(0, len(symbols), _GROUP)]
    return "-".join([CODE_PREFIX, *groups])


def _check_symbol(body: str) -> str:
    """Luhn mod N over the Crockford alphabet (N = 32)."""
    total = 0
    factor = 2  # the symbol nearest the check symbol is doubled
    for symbol in reversed(body):
        addend = factor * _VALUE[symbol]
        total += addend // _BASE + addend % _BASE
        factor = 3 - factor
    return _ALPHABET[-total % _BASE]
