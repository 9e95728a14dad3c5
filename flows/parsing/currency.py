"""Currency detection: symbols, ISO 4217 codes and words -> ISO 4217 code.

`price-parser` finds a currency *symbol* in a price string but does not map it to a code, and
its catalogue of "unsafe" symbols (kr, R, Br, lei, ...) fires on ordinary English in chat
answers, so currency is read here with a curated table and word boundaries.
"""

from __future__ import annotations

import re

# Active ISO 4217 codes.
ISO_CODES = frozenset({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWL",
})

# Codes that are also ordinary (or shouted) English words or well-known acronyms: accepted
# only when written right next to the amount ("PHP 50,000"), never found elsewhere in a text.
_AMBIGUOUS_CODES = frozenset({"ALL", "TOP", "CUP", "MAD", "SOS", "PEN", "BOB", "BAM", "GEL",
                              "AMD", "PHP", "TRY", "MOP", "SHP", "NAD"})

# Lower-case codes people type in chat ("50k usd").
_LOWER_CODES = frozenset({"usd", "eur", "gbp", "cad", "aud", "nzd", "chf", "jpy", "cny", "inr",
                          "sek", "nok", "dkk", "sgd", "hkd", "brl", "mxn", "zar", "pln", "czk",
                          "huf", "ils", "aed", "sar", "krw", "rmb"})

_SYMBOLS: dict[str, str] = {
    "us$": "USD", "usd$": "USD", "$": "USD",
    "a$": "AUD", "au$": "AUD", "aud$": "AUD",
    "c$": "CAD", "ca$": "CAD", "cad$": "CAD",
    "nz$": "NZD", "nzd$": "NZD", "hk$": "HKD", "s$": "SGD", "sg$": "SGD",
    "r$": "BRL", "mx$": "MXN", "nt$": "TWD",
    "€": "EUR", "£": "GBP", "¥": "JPY", "cn¥": "CNY", "₹": "INR", "rs": "INR", "rs.": "INR",
    "₩": "KRW", "₽": "RUB", "₺": "TRY", "₪": "ILS", "₱": "PHP", "₦": "NGN", "₫": "VND",
    "฿": "THB", "₴": "UAH", "zł": "PLN", "kč": "CZK", "fr.": "CHF", "rmb": "CNY",
}

_WORDS: dict[str, str] = {
    "dollar": "USD", "dollars": "USD", "buck": "USD", "bucks": "USD",
    "euro": "EUR", "euros": "EUR",
    "pound": "GBP", "pounds": "GBP", "quid": "GBP", "sterling": "GBP",
    "yen": "JPY", "yuan": "CNY", "renminbi": "CNY",
    "rupee": "INR", "rupees": "INR",
    "franc": "CHF", "francs": "CHF",
    "rand": "ZAR", "reais": "BRL", "zloty": "PLN", "zlotys": "PLN",
    "krona": "SEK", "kronor": "SEK",
}

# "<qualifier> dollars" and friends.
_QUALIFIED: dict[str, str] = {
    "us": "USD", "u.s.": "USD", "american": "USD",
    "canadian": "CAD", "can": "CAD", "australian": "AUD", "aussie": "AUD", "aud": "AUD",
    "new zealand": "NZD", "nz": "NZD", "singapore": "SGD", "hong kong": "HKD",
    "swiss": "CHF", "british": "GBP", "uk": "GBP", "mexican": "MXN", "indian": "INR",
    "japanese": "JPY", "chinese": "CNY", "swedish": "SEK", "norwegian": "NOK", "danish": "DKK",
    "south african": "ZAR", "brazilian": "BRL", "polish": "PLN",
}
_QUALIFIED_UNITS: dict[str, str] = {
    "dollar": "$", "dollars": "$", "franc": "fr", "francs": "fr", "pound": "£", "pounds": "£",
    "peso": "p", "pesos": "p", "rupee": "r", "rupees": "r", "yen": "y", "yuan": "y",
    "krona": "k", "kronor": "k", "krone": "k", "kroner": "k", "rand": "r", "real": "r",
    "reais": "r", "zloty": "z", "zlotys": "z",
}


def _alt(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_SYMBOL_ALT = _alt([s for s in _SYMBOLS if not s[0].isalpha() or "$" in s or "¥" in s])
_LETTER_SYMBOL_ALT = _alt([s for s in _SYMBOLS if s[0].isalpha() and s not in
                           {"us$", "usd$", "a$", "au$", "aud$", "c$", "ca$", "cad$", "nz$",
                            "nzd$", "hk$", "s$", "sg$", "r$", "mx$", "nt$", "cn¥"}])
_QUALIFIED_RE = (
    rf"(?:{_alt(list(_QUALIFIED))})\s+(?:{_alt(list(_QUALIFIED_UNITS))})(?![a-z])"
    rf"|pounds?\s+sterling"
)
_WORD_RE = rf"(?:{_alt(list(_WORDS))})(?![a-z])"

# A currency written just before an amount: "$", "US$", "EUR ", "eur", "Rs.".
_BEFORE = re.compile(
    rf"(?:(?<![a-z])(?:{_SYMBOL_ALT})|(?<![A-Za-z])(?:{_LETTER_SYMBOL_ALT})|"
    rf"(?<![A-Za-z])[A-Za-z]{{3}})\s?$",
    re.IGNORECASE,
)
# A currency written just after an amount: "€", " EUR", " US dollars", " euros".
_AFTER = re.compile(
    rf"\s?(?:{_QUALIFIED_RE}|{_WORD_RE}|(?:{_SYMBOL_ALT})|"
    rf"(?:{_LETTER_SYMBOL_ALT})(?![a-z])|[A-Za-z]{{3}}(?![A-Za-z]))",
    re.IGNORECASE,
)
# A currency anywhere: "budget in euros", "USD budget" (lower-cased text; codes in capitals
# are found in the original text).
_ANYWHERE = re.compile(
    rf"{_QUALIFIED_RE}|(?<![a-z]){_WORD_RE}|(?:{_SYMBOL_ALT})"
    rf"|(?<![a-z])(?:{_alt(sorted(_LOWER_CODES))})(?![a-z])"
)
# Cheap checks before the search: a currency sign, or a currency word or code.
_SYMBOL_CHARS = re.compile("[$€£¥₹₩₽₺₪₱₦₫฿₴]|zł|kč|rs\\.?|fr\\.")
_TOKEN = re.compile(r"[a-z]+")
_CURRENCY_WORDS = frozenset(_WORDS) | _LOWER_CODES | frozenset(_QUALIFIED_UNITS)
_ANYWHERE_CODE = re.compile(r"(?<![A-Za-z])[A-Z]{3}(?![A-Za-z])")


def _code_of(token: str, *, adjacent: bool, before: bool = False) -> str | None:
    """The ISO code a currency token stands for, or None. Codes that are also words ("ALL",
    "TOP", "PHP") count only written right before the amount."""
    token = token.strip()
    low = token.lower()
    if low in _SYMBOLS:
        if low in {"rs", "rs.", "fr.", "rmb"} and not adjacent and token != token.upper():
            return None
        return _SYMBOLS[low]
    if low in _WORDS:
        return _WORDS[low]
    parts = low.split()
    if len(parts) >= 2:
        unit = parts[-1]
        qualifier = " ".join(parts[:-1])
        if qualifier == "pounds" or qualifier == "pound":
            return "GBP"
        if qualifier in _QUALIFIED:
            code = _QUALIFIED[qualifier]
            # "Canadian dollars" -> CAD, but "Swiss dollars" is nonsense: keep the unit's own.
            if unit in {"dollar", "dollars"} and code in {"CHF", "GBP", "JPY", "CNY", "INR",
                                                          "SEK", "NOK", "DKK", "ZAR", "BRL",
                                                          "PLN"}:
                return None
            return code
        return None
    if len(token) == 3 and token.isascii() and token.isalpha():
        if token.isupper() and token in ISO_CODES:
            if token in _AMBIGUOUS_CODES and not before:
                return None
            return token
        if low in _LOWER_CODES:
            return "CNY" if low == "rmb" else low.upper()
    return None


def currency_before(text: str, start: int) -> tuple[str | None, int]:
    """The currency written right before `text[start:]`, and where it begins."""
    window = text[max(0, start - 8):start]
    m = _BEFORE.search(window)
    if m is None:
        return None, start
    code = _code_of(m.group(0), adjacent=True, before=True)
    if code is None:
        return None, start
    return code, start - (len(window) - m.start())


def currency_after(text: str, end: int) -> tuple[str | None, int]:
    """The currency written right after `text[:end]`, and where it ends."""
    m = _AFTER.match(text, end, min(len(text), end + 30))
    if m is None:
        return None, end
    code = _code_of(m.group(0), adjacent=True)
    if code is None:
        return None, end
    return code, m.end()


def currency_anywhere(text: str, low: str, near: int = 0) -> str | None:
    """The first currency named in `text` within 150 characters of `near` (`low` is `text` in
    lower case, with the same length)."""
    lo, hi = max(0, near - 150), near + 150
    found: list[tuple[int, str]] = []
    window = low[lo:hi]
    if _SYMBOL_CHARS.search(window) or not _CURRENCY_WORDS.isdisjoint(_TOKEN.findall(window)):
        for m in _ANYWHERE.finditer(low, lo, hi):
            code = _code_of(m.group(0), adjacent=False)
            if code is not None:
                found.append((m.start(), code))
                break
    if text[lo:hi] != window:  # capitals: maybe a code ("USD")
        for m in _ANYWHERE_CODE.finditer(text, lo, hi):
            code = _code_of(m.group(0), adjacent=False)
            if code is not None:
                found.append((m.start(), code))
                break
    return min(found)[1] if found else None
