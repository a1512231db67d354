"""统一社会信用代码 (unified social credit code, GB 32100-2015): its check character.

18 characters from a 31-letter alphabet (no I, O, S, V, Z); the 18th is a mod-31 check over the
first 17 with weights 3^i mod 31.
"""
from __future__ import annotations

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def uscc_check_digit(first17: str) -> str:
    """The 18th character of a 统一社会信用代码 given its first 17 (GB 32100-2015, mod 31)."""
    if len(first17) != 17:
        raise ValueError(f"expected 17 characters, got {len(first17)}")
    total = 0
    for char, weight in zip(first17.upper(), USCC_WEIGHTS):
        value = USCC_ALPHABET.find(char)
        if value < 0:
            raise ValueError(f"character {char!r} is not allowed in a USCC")
        total += value * weight
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True when `code` is 18 USCC characters whose last one is the correct check digit."""
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return False
    return uscc_check_digit(code[:17]) == code[17]
