"""Certificate codes: unguessable, tolerant of how people type them, and self-checking."""

import re

import pytest

from certificates import is_well_formed, new_certificate_code, normalize_code

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
CANONICAL = re.compile(r"^LYC(-[0-9A-HJKMNP-TV-Z]{4}){7}$")


def symbols_of(code: str) -> str:
    return code.removeprefix("LYC-").replace("-", "")


def test_fresh_codes_are_canonical_and_pass_their_own_check():
    for _ in range(200):
        code = new_certificate_code()
        assert CANONICAL.match(code), code
        assert normalize_code(code) == code
        assert is_well_formed(code)


def test_codes_are_unique_and_use_the_whole_alphabet():
    codes = [new_certificate_code() for _ in range(10_000)]
    assert len(set(codes)) == len(codes)
    # 27 random symbols of 5 bits each: every symbol shows up in every random position.
    for position in (0, 13, 26):
        assert {symbols_of(c)[position] for c in codes} == set(ALPHABET)


def test_random_part_carries_at_least_128_bits():
    random_symbols = len(symbols_of(new_certificate_code())) - 1  # minus the check symbol
    assert random_symbols * 5 >= 128


@pytest.mark.parametrize(
    "mangle",
    [
        str.lower,
        lambda c: c.replace("-", ""),
        lambda c: c.replace("-", " "),
        lambda c: c.removeprefix("LYC-"),
        lambda c: "  " + c.lower().replace("-", "  ") + "\n",
        lambda c: c.replace("-", "\u2013"),  # en dash, as word processors "correct" it
        lambda c: "".join(c.lower().split("-")[1:]),  # no prefix, no separators
    ],
)
def test_normalize_accepts_how_people_type_codes(mangle):
    code = new_certificate_code()
    assert normalize_code(mangle(code)) == code
    assert is_well_formed(mangle(code))


def test_normalize_reads_crockford_lookalikes_as_digits():
    body = "1100" * 6 + "110"
    code = "LYC-" + "-".join(re.findall(".{1,4}", body + "0"))  # the check value is irrelevant here
    typed = code.replace("LYC-", "lyc-").replace("1", "l", 3).replace("1", "I", 3).replace("0", "o")
    assert normalize_code(typed) == code


def test_normalize_is_idempotent():
    code = new_certificate_code()
    once = normalize_code(code.lower().replace("-", " "))
    assert normalize_code(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "",
        "LYC",
        "hello world",
        "LYC-ABCD-EFGH",  # too short
        "LYC-" + "A" * 29,  # too long
        "LYC-" + "U" * 28,  # U is not in the alphabet
        "LYC-" + "A" * 27 + "!",
    ],
)
def test_normalize_rejects_what_cannot_be_a_code(text):
    with pytest.raises(ValueError):
        normalize_code(text)
    assert not is_well_formed(text)


def test_every_single_symbol_typo_is_caught():
    for _ in range(20):
        code = new_certificate_code()
        symbols = symbols_of(code)
        for i, original in enumerate(symbols):
            for wrong in ALPHABET.replace(original, ""):
                typo = symbols[:i] + wrong + symbols[i + 1 :]
                assert not is_well_formed("LYC" + typo), (code, i, wrong)


def test_almost_every_swap_of_neighbours_is_caught():
    caught = total = 0
    for _ in range(200):
        symbols = symbols_of(new_certificate_code())
        for i in range(len(symbols) - 1):
            if symbols[i] == symbols[i + 1]:
                continue
            swapped = symbols[:i] + symbols[i + 1] + symbols[i] + symbols[i + 2 :]
            total += 1
            caught += not is_well_formed(swapped)
    # Luhn mod 32 misses only the swap of one particular pair of values, as Luhn misses 09/90.
    assert caught / total > 0.99
