"""Unit tests of the demo seed's pure helpers: USCC check digits and generated text."""
from __future__ import annotations

import random

import pytest

from mdm.demo.seed import (
    MATERIAL_KINDS,
    USCC_ALPHABET,
    is_valid_uscc,
    long_description,
    make_uscc,
    uscc_check_digit,
)

# The weights of GB 32100-2015 written out, independent of the module's 3**i mod 31.
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _weighted_sum_is_zero_mod_31(code: str) -> bool:
    """The standard's property: Σ value(c_i)·w_i + value(c_18) ≡ 0 (mod 31)."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(code[:17], _WEIGHTS))
    return (total + USCC_ALPHABET.index(code[17])) % 31 == 0


def _org_code_is_valid(org: str) -> bool:
    """GB 11714: the 9th character of a 组织机构代码 checks the first 8 (mod 11, X for 10)."""
    total = sum(int(c, 36) * w for c, w in zip(org[:8], (3, 7, 9, 10, 5, 8, 4, 2)))
    expected = 11 - total % 11
    return org[8] == {10: "X", 11: "0"}.get(expected, str(expected))


@pytest.mark.parametrize("code", [
    "91350100M000100Y43",   # the example code published with GB 32100-2015
    "91440300708461136T",   # a real company's published code
    "91320505MA1MQ2KL70",   # derived by hand from the mod-31 property
    "92440300L19354808R",
    "91110108600040399G",
])
def test_check_digit_of_known_codes(code: str) -> None:
    assert uscc_check_digit(code[:17]) == code[17]
    assert is_valid_uscc(code)
    assert _weighted_sum_is_zero_mod_31(code)


def test_check_digit_accepts_lower_case() -> None:
    assert uscc_check_digit("91350100m000100y4") == "3"


@pytest.mark.parametrize("code", [
    "91350100M000100Y44",   # wrong check digit
    "91350100M000100Y4",    # too short
    "91350100M000100Y433",  # too long
    "91350100M00010OY43",   # O is not in the alphabet
    "91350100I000100Y43",   # I is not in the alphabet
])
def test_invalid_codes_are_rejected(code: str) -> None:
    assert not is_valid_uscc(code)


def test_every_single_character_change_is_detected() -> None:
    code = "91350100M000100Y43"
    for position in range(17):
        for char in USCC_ALPHABET:
            if char == code[position]:
                continue
            changed = code[:position] + char + code[position + 1:]
            assert not is_valid_uscc(changed), changed


@pytest.mark.parametrize("bad", ["", "9135010", "91350100M000100Y4X", "91350100M000100Z4"])
def test_check_digit_rejects_malformed_input(bad: str) -> None:
    with pytest.raises(ValueError):
        uscc_check_digit(bad)


def test_make_uscc_outputs_validate() -> None:
    rng = random.Random(7)
    codes = [make_uscc(rng) for _ in range(2000)]
    for code in codes:
        assert len(code) == 18
        assert code.startswith("91")
        assert code[2:8].isdigit()
        assert is_valid_uscc(code), code
        assert _weighted_sum_is_zero_mod_31(code), code
        assert _org_code_is_valid(code[8:17]), code
    assert len(set(codes)) > 1990
    assert any(code[8:10] == "MA" for code in codes)
    assert len({code[17] for code in codes}) > 20  # check digits spread over the alphabet


def test_make_uscc_uses_the_given_division_and_is_deterministic() -> None:
    first = [make_uscc(random.Random(3), "320506") for _ in range(3)]
    assert first[0] == first[1] == first[2]
    assert first[0][2:8] == "320506"


def test_long_description_is_long_and_varied() -> None:
    rng = random.Random(1)
    kind = MATERIAL_KINDS[0]
    text = long_description(rng, kind.name, "M8×30 GB/T 5782")
    assert len(text) >= 4200
    assert text.startswith(kind.name)
    sentences = [s for s in text.replace("\n", "。").split("。") if s]
    assert len(set(sentences)) / len(sentences) > 0.9
    assert long_description(random.Random(1), kind.name, "M8×30 GB/T 5782") == text
