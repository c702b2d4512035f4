"""Hallmark (fineness mark) parsing: OCR text -> canonical mark, metal and purity.

``parse_hallmark("S 925")`` -> ``Hallmark(mark="S925", metal="silver", purity=0.925, karat=None)``.

What is recognised
------------------
* **Silver**: ``S925``/``925``/``925S``/``AG925``/``STERLING``/``STER``/``925 SILVER``/
  ``SILVER 925`` -> ``S925``; other grades ``S800 S830 S835 S900 S950 S958 S970 S980 S990
  S999`` (with an S/AG/SILVER/STERLING prefix or suffix); bare ``800``/``830``/``835``/``958``
  are silver; ``BRITANNIA`` -> ``S958``; ``FINE SILVER`` -> ``S999``; ``COIN SILVER`` -> ``S900``.
* **Gold by karat**: ``8K 9K 10K 12K 14K 15K 18K 20K 21K 22K 24K``, written ``18K``, ``18 K``,
  ``18KT``, ``18ct``, ``18CT``, ``18 KARAT``, ``18KP`` (plumb), Japanese style ``K18``, with an
  optional colour suffix (``18KWG``, ``14K YG``); the ``K18`` form only for 10/14/18/20/22/24 -> canonical ``"18K"`` (``karat=18``).
* **Gold millesimal**: ``333 375 417 500 583 585 625 750 833 875 916 917 990 999 9999``, bare or
  as ``G750``/``AU750``/``Au750``/``750AU``/``GOLD 750`` -> canonical digits (``"750"``, karat 18).
* **Platinum**: ``PT950``/``Pt 950``/``950PT``/``950 PLAT``/``PT900``/``PT850``/``PT999``;
  ``PLAT``/``PLATINUM`` alone -> ``PT950`` (the US rule: an unqualified "Plat" is >= 950).
* **Palladium**: ``PD950``/``PD500``/``PD999``/``950 PD``/``950 PALL``; ``PALLADIUM`` alone -> ``PD950``.
* **Chinese marks**: ``足金`` (gold >= 990), ``千足金`` (gold >= 999), ``足银`` (silver >= 990),
  ``千足银`` (silver >= 999), ``足铂`` (platinum >= 990); with a number: ``足金999`` -> ``千足金``,
  ``足金990`` -> ``足金``; ``金``/``银``/``铂``/``钯`` before or after a grade give the metal
  (``铂950`` -> ``PT950``, ``银925`` -> ``S925``, ``18K金`` -> ``18K``).

Ambiguous bare numbers (decided by context)
--------------------------------------------
``999``, ``990`` and ``9999`` are used for both fine gold and fine silver, ``950``/``900`` for
platinum and (rarely) silver. The metal is taken, in order, from an explicit prefix/suffix on the
same mark, from other words in the same text (``SILVER``/``STERLING``/``AG``/``银`` -> silver,
``GOLD``/``AU``/a karat mark/``金`` -> gold, ``PT``/``PLAT``/``铂`` -> platinum,
``PD``/``PALL``/``钯`` -> palladium), then from ``metal_hint`` (e.g. the metal facet of the
photo), and finally a default: **999/990/9999 -> gold** (``"999"``), **950/900 -> platinum**
(``"PT950"``). A bare ``500`` is never read (too common as a plain number); write ``PD500``.

OCR robustness
--------------
Case, spaces, dots and dashes between the parts (``"S 925"``, ``"925."``, ``"PT-950"``,
``"S.925"``, ``"18 K"``) are ignored. Inside the digits the usual confusions are undone
(``O/Q/D -> 0``, ``I/L/|/! -> 1``, ``S -> 5``, ``Z -> 2``, ``B -> 8``), but at least two real
digits must remain in a three-digit grade (one in a karat), so words are not read as numbers.
A leading ``5`` (or ``8``, for 925/990/999 only) misread for ``S`` (``"5925"``, ``"8999"``) and
``6`` misread for ``G`` (``"6750"``) are accepted when the rest is a grade of that metal. ``$925``
is read as a price, not as S925.

What is *not* a hallmark
------------------------
Each whitespace/comma/slash-separated token must be a mark as a whole, so prices (``1250``,
``€750``, ``750.00``), dates, sizes (``SIZE 7``), diamond weights (``0.50CT``) and model numbers
(``RX-750``, ``A750``) do not fire. Gold-plating / filled marks (``GP``, ``GF``, ``GEP``, ``HGE``,
``HGP``, ``RGP``, ``EP``, ``PLATED``, ``FILLED``, ``ROLLED GOLD``, ``VERMEIL`` gold) cancel gold
readings (``"18K GP"`` -> ``None``; ``"925 18K GP"`` -> ``S925``); ``EPNS``/``NICKEL SILVER``/
``GERMAN SILVER``/``SILVER PLATE(D)`` cancel silver readings.

A two-part mark read as one word (``"18K750"``, ``"9K.375"``, ``"750-18K"``) is split into its
karat and millesimal parts; both are returned by :func:`find_hallmarks` (each normalised on its
own: ``18K`` and ``750`` are both gold at 0.750).

When a text holds several marks, the strongest (explicit prefix/suffix/keyword over a bare
number) and then the leftmost wins; :func:`find_hallmarks` returns them all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .types import TagPrediction

__all__ = ["Hallmark", "find_hallmarks", "hallmark_tags", "parse_hallmark", "purity_str"]


@dataclass(frozen=True)
class Hallmark:
    mark: str  # canonical, e.g. "S925", "750", "18K", "PT950", "999", "足金"
    metal: str  # silver | gold | platinum | palladium
    purity: float  # fraction, e.g. 0.925
    karat: int | None = None


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------
SILVER_GRADES = {800, 830, 835, 900, 925, 935, 950, 958, 970, 980, 990, 999, 9999}
SILVER_BARE = {800, 830, 835, 925, 958}  # silver without any other hint
GOLD_GRADES = {333, 375, 417, 500, 583, 585, 625, 750, 833, 875, 916, 917, 990, 999, 9999}
GOLD_BARE = {333, 375, 417, 583, 585, 750, 916, 917, 990, 999, 9999}
PLATINUM_GRADES = {850, 900, 950, 999}
PALLADIUM_GRADES = {500, 950, 999}
AMBIGUOUS_BARE = {990: "gold", 999: "gold", 9999: "gold", 950: "platinum", 900: "platinum"}

KARATS = {8, 9, 10, 12, 14, 15, 18, 20, 21, 22, 24}
KARATS_JP = {10, 14, 18, 20, 22, 24}  # "K18" style; "K9" is a dog unit or a glass, not gold
# Legal fineness of each karat (what the matching millesimal stamp says).
KARAT_PURITY = {
    8: 0.333, 9: 0.375, 10: 0.417, 12: 0.5, 14: 0.585, 15: 0.625,
    18: 0.75, 20: 0.833, 21: 0.875, 22: 0.916, 24: 0.999,
}
MILLE_KARAT = {
    333: 8, 375: 9, 417: 10, 500: 12, 583: 14, 585: 14, 625: 15, 750: 18,
    833: 20, 875: 21, 916: 22, 917: 22, 990: 24, 999: 24, 9999: 24,
}

_SILVER_PRE = ("STERLING", "SILVER", "STER", "SS", "AG", "S", "银", "足银", "千足银")
_SILVER_SUF = ("STERLING", "SILVER", "STER", "AG", "S", "银")
_GOLD_PRE = ("GOLD", "AU", "G", "K", "金", "足金", "千足金")
_GOLD_SUF = ("GOLD", "AU", "YG", "WG", "RG", "PG", "Y", "W", "R", "G", "金")
_PT_PRE = ("PLATINUM", "PLAT", "PT", "足铂", "铂")
_PT_SUF = ("PLATINUM", "PLAT", "PT", "铂")
_PD_PRE = ("PALLADIUM", "PALL", "PD", "钯")
_PD_SUF = ("PALLADIUM", "PALL", "PD", "钯")
_KARAT_SUF = ("KARAT", "CARAT", "KAR", "KT", "KP", "CT", "K")
_COLOUR_SUF = ("GOLD", "YG", "WG", "RG", "PG", "Y", "W", "R", "金", "")

_PLATING = re.compile(
    r"(?<![A-Z])(GP|GF|GEP|HGE|HGP|RGP|EP|PLATED|PLATE|FILLED|ROLLED|VERMEIL|GE)(?![A-Z])"
    r"|(?<=[0-9K])(GP|GF|GEP|HGE|HGP|RGP|GE|EP)(?![A-Z])|镀金|包金"
)
_COLOUR = r"(?P<col>GOLD|YG|WG|RG|PG|Y|W|R|金)?"
_KARAT_RE = re.compile(r"^(?P<n>[0-9OQDIL|!SZB]{1,2})(?P<k>KARAT|CARAT|KAR|KT|KP|CT|K)" + _COLOUR + "$")
_KARAT_JP_RE = re.compile(r"^K(?P<n>[0-9OQDIL|!SZB]{1,2})" + _COLOUR + "$")
# A bare number next to one of these is a size, price, reference... not a hallmark.
_BARE_BLOCK = {
    "SIZE", "SZ", "NO", "NR", "NUM", "REF", "ART", "SKU", "MODEL", "ITEM", "LOT", "CODE", "ID",
    "PRICE", "EUR", "USD", "RMB", "CNY", "GBP", "CHF", "JPY", "YEN", "HKD", "AUD", "CAD",
    "元", "¥", "€", "£", "MM", "CM", "KG", "TEL", "PAGE",
}
_SILVER_FAKE = re.compile(r"EPNS|NICKEL\s*SILVER|GERMAN\s*SILVER|ALPACA|SILVER\s*PLATE|SILVERPLATE|镀银")

_SILVER_CTX = re.compile(r"SILVER|STERLING|(?<![A-Z])STER(?![A-Z])|(?<![A-Z])AG(?=[\s\d]|$)|银")
_GOLD_CTX = re.compile(r"GOLD|(?<![A-Z])AU(?=[\s\d]|$)|(?<![A-Z0-9])(8|9|10|12|14|15|18|20|21|22|24)\s*(K|KT|CT)(?![A-Z])|(?<![A-Z])K(8|9|10|12|14|18|20|22|24)(?!\d)|金")
_PT_CTX = re.compile(r"PLAT|(?<![A-Z])PT(?=[\s\d]|$)|铂")
_PD_CTX = re.compile(r"PALL|(?<![A-Z])PD(?=[\s\d]|$)|钯")

_DIGIT_FIX = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1", "!": "1",
                            "S": "5", "Z": "2", "B": "8"})
_DIGIT_FIX_ALT = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1", "!": "1",
                                "S": "5", "Z": "7", "B": "8"})
_NUMLIKE = re.compile(r"^[0-9OQDIL|!SZB]+$")
_SPLIT = re.compile(r"[\s,;:/\\()\[\]{}<>\"'`~*+=_#@^&?，、。：；（）]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_GLUED_KARAT_MILLE = re.compile(r"(?<![A-Z0-9])([0-9]{1,2}(?:KT|CT|K))[.\-·]?([0-9OQDB]{3})(?![0-9A-Z])")
_GLUED_MILLE_KARAT = re.compile(r"(?<![A-Z0-9])([0-9]{3})[.\-·]?([0-9]{1,2}(?:KT|CT|K))(?![0-9A-Z])")
_CN_WORDS = ("千足金", "千足银", "足金", "足银", "足铂", "金", "银", "铂", "钯")


def purity_str(purity: float) -> str:
    """``0.925`` -> ``"0.925"``, ``0.75`` -> ``"0.750"``, ``0.9999`` -> ``"0.9999"``."""
    text = f"{purity:.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(3, '0')}"


def _digits(part: str, *, min_real: int, allowed: frozenset[int] | set[int] | None = None) -> int | None:
    """Undo OCR letter/digit confusions in a number; None if it is not number-like.

    ``Z`` is read as 2, or as 7 when only that gives a number in ``allowed``.
    """
    if not part or not _NUMLIKE.match(part):
        return None
    if sum(ch.isdigit() for ch in part) < min_real:
        return None
    value = None
    for table in (_DIGIT_FIX, _DIGIT_FIX_ALT) if "Z" in part else (_DIGIT_FIX,):
        fixed = part.translate(table)
        if not fixed.isdigit() or fixed.startswith("0"):
            continue
        if value is None:
            value = int(fixed)
        if allowed is None or int(fixed) in allowed:
            return int(fixed)
    return value


_ALL_GRADES = frozenset(SILVER_GRADES | GOLD_GRADES | PLATINUM_GRADES | PALLADIUM_GRADES)


def _grade(part: str) -> int | None:
    if part in ("999.9", "9999"):
        return 9999
    if len(part) != 3:
        return None
    return _digits(part, min_real=2, allowed=_ALL_GRADES)


@dataclass(frozen=True)
class _Cand:
    hallmark: Hallmark
    strength: int  # 2: explicit prefix/suffix/keyword, 1: bare number
    pos: int
    explicit_metal: bool


def _mk_silver(g: int) -> Hallmark:
    return Hallmark(f"S{g}", "silver", 0.9999 if g == 9999 else g / 1000.0, None)


def _mk_gold_mille(g: int) -> Hallmark:
    return Hallmark(str(g), "gold", 0.9999 if g == 9999 else g / 1000.0, MILLE_KARAT.get(g))


def _mk_karat(k: int) -> Hallmark:
    return Hallmark(f"{k}K", "gold", KARAT_PURITY[k], k)


def _mk_pt(g: int) -> Hallmark:
    return Hallmark(f"PT{g}", "platinum", g / 1000.0, None)


def _mk_pd(g: int) -> Hallmark:
    return Hallmark(f"PD{g}", "palladium", g / 1000.0, None)


def _chinese(word: str, grade: int | None) -> Hallmark | None:
    if word in ("足金", "千足金"):
        if word == "千足金" or grade in (999, 9999):
            return Hallmark("千足金", "gold", 0.999, 24)
        return Hallmark("足金", "gold", 0.990, 24)
    if word in ("足银", "千足银"):
        if word == "千足银" or grade in (999, 9999):
            return Hallmark("千足银", "silver", 0.999, None)
        return Hallmark("足银", "silver", 0.990, None)
    if word == "足铂":
        if grade in (999, 9999):
            return Hallmark("PT999", "platinum", 0.999, None)
        return Hallmark("足铂", "platinum", 0.990, None)
    return None


def _split_affix(token: str, prefixes: tuple[str, ...], suffixes: tuple[str, ...]):
    """Yield (prefix, middle, suffix) for every way the token splits around affixes."""
    pres = [p for p in prefixes if token.startswith(p)] + [""]
    for pre in pres:
        rest = token[len(pre):]
        sufs = [s for s in suffixes if s and rest.endswith(s) and len(rest) > len(s)] + [""]
        for suf in sufs:
            mid = rest[: len(rest) - len(suf)] if suf else rest
            if mid:
                yield pre, mid, suf


def _parse_token(tok: str, context_metal: str | None) -> tuple[Hallmark, int, bool] | None:
    """Parse one (already joined, cleaned) token as a whole; (hallmark, strength, explicit_metal)."""
    if not tok:
        return None
    # Chinese fineness words, alone or with a grade before/after.
    for word in ("千足金", "千足银", "足金", "足银", "足铂"):
        if word in tok:
            rest = tok.replace(word, "", 1)
            grade = _grade(rest.replace("AU", "").replace("AG", "").replace("PT", "")) if rest else None
            if rest and grade is None and rest not in ("AU", "AG", "PT"):
                continue
            hm = _chinese(word, grade)
            if hm is not None:
                return hm, 3, True

    # Pure keywords.
    kw = {
        "STERLING": _mk_silver(925), "STER": _mk_silver(925), "STERLINGSILVER": _mk_silver(925),
        "BRITANNIA": _mk_silver(958), "FINESILVER": _mk_silver(999), "COINSILVER": _mk_silver(900),
        "PLAT": _mk_pt(950), "PLATINUM": _mk_pt(950), "PALLADIUM": _mk_pd(950), "PALL": _mk_pd(950),
    }
    if tok in kw:
        return kw[tok], 2, True

    # Karat gold: 18K, 18KT, 18CT, 18KP, 18 KARAT, K18 (Japanese), with a colour: 18KWG, K18WG.
    m = _KARAT_RE.match(tok)
    allowed = KARATS
    if m is None:
        m = _KARAT_JP_RE.match(tok)
        allowed = KARATS_JP
    if m:
        k = _digits(m.group("n"), min_real=1, allowed=allowed)
        if k in allowed:
            return _mk_karat(k), 2, True

    # Millesimal grades with metal affixes.
    tries = (
        ("silver", _SILVER_PRE, _SILVER_SUF, SILVER_GRADES, _mk_silver),
        ("platinum", _PT_PRE, _PT_SUF, PLATINUM_GRADES, _mk_pt),
        ("palladium", _PD_PRE, _PD_SUF, PALLADIUM_GRADES, _mk_pd),
        ("gold", _GOLD_PRE, _GOLD_SUF, GOLD_GRADES, _mk_gold_mille),
    )
    for metal, pres, sufs, grades, make in tries:
        for pre, mid, suf in _split_affix(tok, pres, sufs):
            if not pre and not suf:
                continue
            if metal == "gold" and pre == "K":
                continue  # K750 is not a thing; K18 handled above
            g = _grade(mid)
            if g is None or g not in grades:
                continue
            if pre in ("足银", "千足银", "足金", "千足金", "足铂"):
                continue  # handled above
            return make(g), 2, True

    # A misread prefix: 5925 (S925), $925, 6750 (G750).
    if len(tok) == 4 and tok[0] in "58":
        g = _grade(tok[1:])
        if g in ({925, 990, 999} if tok[0] == "8" else SILVER_BARE | {990, 999}):
            return _mk_silver(g), 2, True
    if len(tok) == 4 and tok[0] == "6":
        g = _grade(tok[1:])
        if g in GOLD_BARE and g not in (990, 999):
            return _mk_gold_mille(g), 2, True

    # Bare grades.
    g = _grade(tok)
    if g is None:
        return None
    metal = context_metal
    if metal == "silver" and g in SILVER_GRADES:
        return _mk_silver(g), 1, False
    if metal == "gold" and g in GOLD_GRADES and g != 500:
        return _mk_gold_mille(g), 1, False
    if metal == "platinum" and g in PLATINUM_GRADES:
        return _mk_pt(g), 1, False
    if metal == "palladium" and g in PALLADIUM_GRADES and g != 500:
        return _mk_pd(g), 1, False
    if g in SILVER_BARE:
        return _mk_silver(g), 1, False
    if g in AMBIGUOUS_BARE:
        default = AMBIGUOUS_BARE[g]
        return ({"gold": _mk_gold_mille, "platinum": _mk_pt}[default])(g), 1, False
    if g in GOLD_BARE:
        return _mk_gold_mille(g), 1, False
    return None


def _clean(text: str) -> str:
    s = unicodedata.normalize("NFKC", text or "").upper()
    s = s.replace("§", "S")
    s = s.replace("999.9", "9999")
    # Separate CJK words from latin/digits so that each is a token ("足金999" stays joinable).
    s = re.sub(r"([\u3400-\u9fff]+)", r" \1 ", s)
    # A two-part mark read without its space ("18K750", "9K.375", "750-18K"): two tokens.
    s = _GLUED_KARAT_MILLE.sub(r"\1 \2", s)
    s = _GLUED_MILLE_KARAT.sub(r"\1 \2", s)
    return s


def _tokens(s: str) -> list[tuple[str, int]]:
    out = []
    for m in re.finditer(r"[^\s,;:/\\()\[\]{}<>\"'`~*+=_#@^&?，、。：；（）]+", s):
        tok = m.group(0)
        start = m.start()
        stripped = tok.strip(".-·'")
        if not stripped:
            continue
        start += tok.index(stripped[0])
        # Dots/dashes between a letter and a digit are separators: S.925, PT-950, 18.K
        stripped = re.sub(r"(?<=[A-Z\u3400-\u9fff])[.\-·](?=[0-9])|(?<=[0-9])[.\-·](?=[A-Z\u3400-\u9fff])", "", stripped)
        out.append((stripped, start))
    return out


def _context_metal(s: str, metal_hint: str | None) -> str | None:
    found = []
    if _SILVER_CTX.search(s) and not _SILVER_FAKE.search(s):
        found.append("silver")
    if _GOLD_CTX.search(s) and not _PLATING.search(s):
        found.append("gold")
    if _PT_CTX.search(s):
        found.append("platinum")
    if _PD_CTX.search(s):
        found.append("palladium")
    if len(found) == 1:
        return found[0]
    hint = (metal_hint or "").strip().lower() or None
    if hint in ("silver", "gold", "platinum", "palladium"):
        return hint
    if hint in ("yellow", "rose", "yellow gold", "rose gold", "white gold"):
        return "gold"
    return None


def _bare_blocked(toks: list[tuple[str, int]], i: int) -> bool:
    near = [toks[j][0] for j in (i - 1, i + 1) if 0 <= j < len(toks)]
    return any(t in _BARE_BLOCK or t.rstrip(".") in _BARE_BLOCK for t in near)


def find_hallmarks(text: str, *, metal_hint: str | None = None, _explicit_only: bool = False) -> list[Hallmark]:
    """All hallmarks in a text, best first (see the module docstring for the rules)."""
    s = _clean(text)
    if not s.strip():
        return []
    ctx = _context_metal(s, metal_hint)
    plated_gold = bool(_PLATING.search(s))
    fake_silver = bool(_SILVER_FAKE.search(s))
    toks = _tokens(s)
    cands: list[_Cand] = []
    used: set[int] = set()
    # Longer joins first so "S 925" becomes S925 and not a bare 925 (and "925 SILVER" -> S925).
    for width in (3, 2, 1):
        for i in range(len(toks) - width + 1):
            idx = set(range(i, i + width))
            if idx & used:
                continue
            parts = [toks[j][0] for j in range(i, i + width)]
            if width > 1:
                # Only join short pieces or affix words to a number, never two long words.
                if not any(any(ch.isdigit() for ch in p) for p in parts) and "".join(parts) not in (
                    "STERLINGSILVER", "FINESILVER", "COINSILVER"):
                    continue
                if width == 3 and not all(len(p) <= 3 for p in parts):
                    continue
            joined = "".join(parts)
            parsed = _parse_token(joined, ctx)
            if parsed is None:
                continue
            hm, strength, _explicit = parsed
            if width > 1 and strength < 2:
                continue  # joining only to attach an affix, not to glue numbers together
            if strength < 2 and (_explicit_only or _bare_blocked(toks, i)):
                continue
            if hm.metal == "gold" and plated_gold and hm.mark not in ("足金", "千足金"):
                continue
            if hm.metal == "silver" and fake_silver:
                continue
            cands.append(_Cand(hm, strength, toks[i][1], _explicit))
            used |= idx
    if not cands:
        # OCR often turns the space between words into "." or "-" ("950.PLAT-IW"): split there,
        # but accept only explicit marks, so "RX-750" (a model number) stays unread.
        for tok, pos in toks:
            parts = [p for p in re.split(r"[.\-·]+", tok) if p]
            if len(parts) < 2:
                continue
            sub = find_hallmarks(" ".join(parts), metal_hint=metal_hint, _explicit_only=True)
            for hm in sub:
                cands.append(_Cand(hm, 2, pos, True))
    if not cands and not _explicit_only and 2 <= len(toks) <= 3 and all(_NUMLIKE.match(t) for t, _ in toks):
        # "92 5", "7 50": a grade split by OCR, when that is all the text holds.
        parsed = _parse_token("".join(t for t, _ in toks), ctx)
        if parsed is not None and not (parsed[0].metal == "gold" and plated_gold):
            cands.append(_Cand(parsed[0], 1, toks[0][1], False))
    cands.sort(key=lambda c: (-c.strength, c.pos))
    out: list[Hallmark] = []
    for c in cands:
        if c.hallmark not in out:
            out.append(c.hallmark)
    return out


def parse_hallmark(text: str, *, metal_hint: str | None = None) -> Hallmark | None:
    """The hallmark in an OCR'd text, or None.

    ``metal_hint`` (``"silver"``, ``"gold"``, ...; e.g. from the metal facet of the photo) only
    decides bare ambiguous grades such as ``999``; explicit marks and other words in the text win.
    """
    found = find_hallmarks(text, metal_hint=metal_hint)
    return found[0] if found else None


def hallmark_tags(h: Hallmark, confidence: float, model: str, version: str) -> list[TagPrediction]:
    """Facets ``hallmark`` (canonical mark), ``metal`` and ``purity`` (e.g. ``"0.925"``)."""
    conf = float(max(0.0, min(1.0, confidence)))
    return [
        TagPrediction("hallmark", h.mark, conf, model, version),
        TagPrediction("metal", h.metal, conf, model, version),
        TagPrediction("purity", purity_str(h.purity), conf, model, version),
    ]
