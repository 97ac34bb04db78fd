"""Labeling functions for SMS spam (1 = SPAM, 0 = HAM).

Written against the UCI SMS Spam Collection (5,574 messages, 13% spam). SPAM votes fire on
the machinery of a premium-rate promotion: phone numbers and five-digit short codes, prizes
and FREE offers, prices (£, p, per min), links, T&Cs and opt-outs, urgency, ringtones,
handset offers, "txt WORD", capitals with figures, digit-heavy text. HAM votes are cast only
on messages that carry none of those cues (personal talk): short replies, "I/me/my", chat
shorthand (lol, lor, ok, u), plans and places, feelings and thanks, questions to a friend.
Load them with ``weaklabel.load_lfs("labeling_functions.sms")``.

Measured on all 5,574 messages by ``python -m benchmarks.lf_modules`` (the test suite checks
these numbers against the code). The LFs were written on a seeded 80% sample
(``numpy.random.default_rng(0).random(5574) < 0.8``, development); the other 20% was held out.

Per LF (coverage and empirical accuracy on all rows; accuracy on the held-out rows):

============ ===== ======== ======== ========
LF           votes coverage accuracy held-out
============ ===== ======== ======== ========
phone_number SPAM  0.069    1.000    1.000
short_code   SPAM  0.037    1.000    1.000
prize        SPAM  0.040    0.991    1.000
free_offer   SPAM  0.029    0.981    1.000
price        SPAM  0.071    0.987    0.988
url          SPAM  0.028    0.911    0.909
terms        SPAM  0.038    0.986    1.000
urgent       SPAM  0.019    0.971    0.957
ringtone     SPAM  0.014    1.000    1.000
mobile_offer SPAM  0.019    0.962    0.929
txt_keyword  SPAM  0.046    0.980    0.981
shouting     SPAM  0.058    0.957    0.938
many_digits  SPAM  0.096    0.993    0.991
short_reply  HAM   0.269    0.996    0.997
first_person HAM   0.460    0.998    0.998
chat_slang   HAM   0.362    1.000    1.000
daily_life   HAM   0.257    0.994    1.000
feelings     HAM   0.151    0.995    1.000
question     HAM   0.131    0.990    0.993
============ ===== ======== ======== ========

Majority vote over the LFs (ties and rows without votes -> HAM) against always-HAM:

=========== ==== ======== ====== ===== ======== =======
rows        n    coverage MV acc MV F1 base acc base F1
=========== ==== ======== ====== ===== ======== =======
all         5574 0.930    0.988  0.955 0.866    0.000
development 4427 0.928    0.987  0.953 0.867    0.000
held out    1147 0.940    0.990  0.962 0.864    0.000
=========== ==== ======== ====== ===== ======== =======
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from weaklabel import ABSTAIN, VectorizedLabelingFunction, labeling_function, regex_lf

__all__ = ["ABSTAIN", "HAM", "LFS", "SPAM"]

HAM = 0
SPAM = 1

_FLAGS = re.IGNORECASE

# ---------------------------------------------------------------- SPAM cues
# Case-insensitive, except the (?-i:...) parts where capitals are the cue (FREE, reply WIN).
_PHONE = r"\b0[789]\d{8,9}\b|\b0\d{3} ?\d{3} ?\d{4}\b|\+44\d{9,10}"
_SHORT_CODE = (
    r"\b(?:txt|text|send|reply|sms|call|to)\b\W+(?:\w+\W+){0,3}?(?:to|on)?\W*\b[6-8]\d{4}\b"
)
_PRIZE = (
    r"\b(?:prizes?|winners?|claim|awarded|guaranteed|bonus|rewards?|vouchers|entry|"
    r"congratulations|(?:specially|been) selected)\b|"
    r"\b(?:won|win|wins)\b(?!')[^.!?]{0,25}(?:£|cash|prize|\d|tkts|ipod|holiday)"
)
_FREE = (
    r"(?-i:\bFREE\b)|\bfree (?:entry|msg|ringtone|tone|camera|video|phone|gift|txt|text|1st|"
    r"week|nokia|\d|2|of charge|polyphonic)|\bfreemsg|\bfree-?phone\b|\bfreefone\b"
)
_PRICE = r"£\s?\d|\b\d+p\b|\bppm\b|\bgbp\b|\bper (?:min|msg|week|wk)\b|/(?:min|msg|wk|week)\b"
_URL = r"https?://|www\.|\.co\.uk\b|\.com\b|\.net\b|\.biz\b|\bwap\b"
_TERMS = (
    r"\bt ?& ?c'?s?\b|\bts ?& ?cs\b|\btncs?\b|\bopt ?out\b|\bunsub\w*\b|\b1[68]\+|\bage ?1[68]\b|"
    r"\bpo ?box\b|\bcustomer (?:service|care)\b|\bcust ?care\b|\bhelpline\b|\bsubscri\w*\b"
)
_URGENT = (
    r"\burgent!|\bcall now\b|\bcall free\b|\bexpires?\b|\bvalid \d+ ?hrs\b|"
    r"\blast (?:chance|attempt)\b|\b2nd attempt\b|\bfinal (?:try|attempt)\b"
)
_RINGTONE = r"\b(?:ringtones?|tones?|polyphonic|poly|logos?|wallpapers?)\b"
_MOBILE = (
    r"\b(?:mobiles|(?:your|ur) mobile|mobile (?:no|number)|(?:latest|free|camera|video|colour) "
    r"mobiles?|camera phones?|video phones?|handsets?|line rental|(?:free|anytime|cross ntwk) mins|"
    r"upd8)\b"
)
_TXT = (
    r"\btxt\b(?! (?:me|u|you|bak|back|or|later)\b)|"
    r"\b(?:reply|text|send|txt) (?!(?:back|bak|me|u)\b)(?-i:[A-Z]{2,})\b"
)
_SPAM_CUES = (
    _PHONE, _SHORT_CODE, _PRIZE, _FREE, _PRICE, _URL, _TERMS, _URGENT, _RINGTONE, _MOBILE, _TXT,
)  # fmt: skip
# A HAM vote is only cast on messages that carry none of the cues above.
_SPAM_CUE_RE = re.compile("|".join(_SPAM_CUES), _FLAGS)

phone_number = regex_lf("phone_number", _PHONE, SPAM)
phone_number.__doc__ = "Premium-rate and freephone numbers are how SMS spam gets paid."
short_code = regex_lf("short_code", _SHORT_CODE, SPAM)
short_code.__doc__ = "'Text WIN to 87121': five-digit short codes bill the reply."
prize = regex_lf("prize", _PRIZE, SPAM)
prize.__doc__ = "Prizes, awards and draws are the bait of most SMS spam."
free_offer = regex_lf("free_offer", _FREE, SPAM)
free_offer.__doc__ = "'FREE entry', 'free ringtone': free as an offer, not 'are you free?'."
price = regex_lf("price", _PRICE, SPAM)
price.__doc__ = "Pounds, pence and rates per message or minute: a sale's small print."
url = regex_lf("url", _URL, SPAM)
url.__doc__ = "Friends rarely text links; spam sends readers to its sites."
terms = regex_lf("terms", _TERMS, SPAM)
terms.__doc__ = "T&Cs, opt-outs, age limits, PO boxes, customer care: a promotion's regulated part."
urgent = regex_lf("urgent", _URGENT, SPAM)
urgent.__doc__ = "Manufactured urgency (urgent!, expires, 2nd attempt) pressures a reply."
ringtone = regex_lf("ringtone", _RINGTONE, SPAM)
ringtone.__doc__ = "Ringtones, logos and wallpapers are sold by subscription texts."
mobile_offer = regex_lf("mobile_offer", _MOBILE, SPAM)
mobile_offer.__doc__ = "Mobiles, handsets and line rental: phone-contract offers."
txt_keyword = regex_lf("txt_keyword", _TXT, SPAM)
txt_keyword.__doc__ = "'txt' and 'reply/text WORD' are the call to action of text-back services."


def _as_string(texts: pd.Series) -> pd.Series:
    """Texts as pandas strings, so the ``.str`` methods see missing values as missing."""
    return texts.astype("string")


@labeling_function(vectorized=True, column="text", pre=[_as_string])
def shouting(texts: pd.Series) -> np.ndarray:
    """Capitalised words amid text and numbers (WIN £1000, CALL 0906...) shout an offer.

    Friends shout too, but their capitals seldom come with figures.
    """
    caps_words = texts.str.count(r"\b[A-Z]{3,}\b")
    lower = texts.str.count(r"[a-z]")
    digits = texts.str.count(r"\d")
    shouted_offer = (caps_words >= 2) & (lower >= 10) & (digits >= 2)
    return np.where(shouted_offer.fillna(False), SPAM, ABSTAIN)


@labeling_function(vectorized=True, column="text", pre=[_as_string])
def many_digits(texts: pd.Series) -> np.ndarray:
    """Messages dense with digits carry numbers, codes and prices: spam's payload."""
    return np.where((texts.str.count(r"\d") >= 12).fillna(False), SPAM, ABSTAIN)


# ---------------------------------------------------------------- HAM cues (personal talk)
def _free_of_spam_cues(texts: pd.Series, candidates: np.ndarray) -> np.ndarray:
    """``candidates`` narrowed to rows with no spam cue (the cues are only searched there)."""
    keep = np.asarray(candidates, dtype=bool).copy()
    cue = texts[keep].str.contains(_SPAM_CUE_RE, regex=True).fillna(False)
    keep[keep] = ~cue.to_numpy(dtype=bool)
    return keep


@labeling_function(vectorized=True, column="text", pre=[_as_string])
def short_reply(texts: pd.Series) -> np.ndarray:
    """Short messages with no spam cue are replies between people ("ok", "on my way")."""
    short = (texts.str.split().str.len() <= 7).fillna(False).to_numpy(dtype=bool)  # missing: no vote
    return np.where(_free_of_spam_cues(texts, short), HAM, ABSTAIN)


def _personal_lf(name: str, pattern: str, doc: str) -> VectorizedLabelingFunction:
    """HAM where ``pattern`` occurs in a message free of spam cues."""
    compiled = re.compile(pattern, _FLAGS)

    def vote(texts: pd.Series) -> np.ndarray:
        found = texts.str.contains(compiled, regex=True).fillna(False).to_numpy(dtype=bool)
        return np.where(_free_of_spam_cues(texts, found), HAM, ABSTAIN)

    vote.__doc__ = doc
    return labeling_function(name, vectorized=True, column="text", pre=[_as_string])(vote)


first_person = _personal_lf(
    "first_person",
    r"\bi(?:'m|'ll|'ve|'d)?\b|\bi\.ll\b|\bim\b|\bme\b|\bmy\b",
    "People write about themselves; spam is about 'you' and the offer.",
)
chat_slang = _personal_lf(
    "chat_slang",
    r"\b(?:lol|lor|lar|la|haha\w*|hehe|ok|okay|k|okie|da|dun|wat|ya|yup|yeah|hmm+|oh|ah|"
    r"aight|gonna|wanna|dunno|thk|tmr|nite|n|ü|u)\b|:-?\)|:-?\(|;-?\)",
    "Chat shorthand and emoticons (lol, lor, ok, :-)) are how friends text.",
)
daily_life = _personal_lf(
    "daily_life",
    r"\b(?:home|later|tonight|tomorrow|today|morning|night|sleep|dinner|lunch|class|work|"
    r"office|bus|car|house|going|come|coming|reach|wait|waiting|meet|see you|pick)\b",
    "Plans and whereabouts (home, later, dinner, pick you up) are personal conversation.",
)
feelings = _personal_lf(
    "feelings",
    r"\b(?:sorry|love|miss|dear|babe|baby|sweet|hugs?|kiss(?:es)?|happy|sad|thanks|thank you|"
    r"thanx|pls|please)\b",
    "Apologies, thanks and affection belong to people who know each other.",
)
question = _personal_lf(
    "question",
    r"\b(?:where|when|what|how|why|who|are|did|do|can|will) (?:you|u|i|we|he|she|they|it)\b",
    "Questions to a friend ('where are you?') start conversations, not sales.",
)

LFS = [
    phone_number,
    short_code,
    prize,
    free_offer,
    price,
    url,
    terms,
    urgent,
    ringtone,
    mobile_offer,
    txt_keyword,
    shouting,
    many_digits,
    short_reply,
    first_person,
    chat_slang,
    daily_life,
    feelings,
    question,
]
