"""统一社会信用代码 (unified social credit code, GB 32100-2015): check digit and generation."""
from __future__ import annotations

import random

from mdm.demo.vocabulary import CITIES
from mdm.rules.uscc import USCC_ALPHABET, USCC_WEIGHTS, is_valid_uscc, uscc_check_digit  # noqa: F401

_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714-1997
_ORG_CODE_BODY = USCC_ALPHABET  # keeps generated org codes inside the USCC alphabet


def _org_code_check_digit(first8: str) -> str:
    """Check digit of a 组织机构代码 (GB 11714): mod 11, 10 → X, 11 → 0."""
    total = sum(int(c, 36) * w for c, w in zip(first8, _ORG_CODE_WEIGHTS))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def _make_org_code(rng: random.Random) -> str:
    if rng.random() < 0.35:  # codes issued after 2015 start with MA
        body = "MA" + "".join(rng.choice(_ORG_CODE_BODY) for _ in range(6))
    else:
        body = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
    return body + _org_code_check_digit(body)


def make_uscc(rng: random.Random, division: str | None = None) -> str:
    """A plausible 18-character 统一社会信用代码 with a correct check digit.

    Layout: 9 (工商登记) + 1 (企业) + 6-digit 行政区划码 + 9-character 组织机构代码 + check.
    """
    if division is None:
        division = rng.choice(CITIES).pick_district(rng)[1]
    first17 = "91" + division + _make_org_code(rng)
    return first17 + uscc_check_digit(first17)
