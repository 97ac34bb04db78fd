"""Labeling functions for YouTube comment spam (1 = SPAM, 0 = HAM).

Written against the UCI YouTube Spam Collection (five music videos; the copy bundled as
``weaklabel.data.load_youtube_spam()``). SPAM votes fire on a promoter's cues: requests to
check out, subscribe, like, share or visit; links; money; self-introductions; addressing
"everyone"; shouting; long pitches. HAM votes are cast only on comments that carry none of
those cues (fan talk): short reactions, praise of the song, the singer's name, the view
count, nostalgia, laughter, emoji. Load them with
``weaklabel.load_lfs("labeling_functions.youtube")``.

Measured on all 1,956 comments by ``python -m benchmarks.lf_modules`` (the test suite checks
these numbers against the code). The LFs were written on the Psy, Katy Perry, LMFAO and
Eminem videos (development); the Shakira video, the demo's test split, was held out.

Per LF (coverage and empirical accuracy on all rows; accuracy on the held-out rows):

============= ===== ======== ======== ========
LF            votes coverage accuracy held-out
============= ===== ======== ======== ========
check_out     SPAM  0.232    1.000    1.000
subscribe     SPAM  0.140    0.989    1.000
my_content    SPAM  0.133    1.000    1.000
link          SPAM  0.136    0.959    1.000
please        SPAM  0.108    0.981    1.000
engage        SPAM  0.120    0.996    0.980
money         SPAM  0.067    0.969    1.000
hey_everyone  SPAM  0.067    0.947    1.000
self_intro    SPAM  0.030    1.000    1.000
spam_apology  SPAM  0.017    0.971    1.000
shouting      SPAM  0.032    0.778    1.000
long_comment  SPAM  0.100    0.923    0.981
few_words     HAM   0.316    0.974    0.964
emoji_only    HAM   0.008    0.938    0.667
song_praise   HAM   0.080    0.994    1.000
this_song     HAM   0.065    0.984    0.972
artist        HAM   0.090    0.977    0.943
view_count    HAM   0.053    0.990    1.000
nostalgia     HAM   0.017    0.939    0.818
laughter      HAM   0.038    1.000    1.000
============= ===== ======== ======== ========

Majority vote over the LFs (ties and rows without votes -> HAM) against always-SPAM:

=========== ==== ======== ====== ===== ======== =======
rows        n    coverage MV acc MV F1 base acc base F1
=========== ==== ======== ====== ===== ======== =======
all         1956 0.946    0.969  0.970 0.514    0.679
development 1586 0.938    0.970  0.972 0.524    0.688
held out    370  0.984    0.965  0.962 0.470    0.640
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
_CHECK_OUT = r"\bcheck(?:ing)? (?:out|my|it|this|our)\b|\bcheckout\b|\btake a look\b"
_SUBSCRIBE = r"\b(?:subscri\w*|suscri\w*|subs?\b|sub (?:to|me|my)\b)"
_MY_CONTENT = (
    r"\b(?:my|our) (?:new |first |latest )?(?:channel|chanel|video|vid|videos|vids|page|music|"
    r"songs?|playlist|covers?|rap|album|mixtape|youtube|website|site|blog|band|beats?)\b"
)
_LINK = r"https?://|www\.|\.com\b|\.net\b|\.org\b|\.ly/|\.co\b|watch\?v=|youtu\.be\b"
_PLEASE = r"\b(?:please|plz|pls|plzz|plis)\b"
_ENGAGE = (
    r"\blike this comment\b|\bvote\b|\bshare\b|\bhelp me\b|\bgive (?:me|us) a chance\b|"
    r"\bfollow\b|\bvisit\b|\bfacebook\b|\btwitter\b|\binstagram\b|\bsoundcloud\b"
)
_MONEY = (
    r"\b(?:money|cash|\$\d|free|gift ?cards?|earn|win|iphone|paypal|giveaway|promo|"
    r"discount|per month|income|dollars)\b"
)
_EVERYONE = (
    r"\b(?:hey|hi|hello|yo) (?:guys|everyone|everybody|people|all)\b|\byou guys\b|\beveryone\b"
)
_SELF_INTRO = (
    r"\bmy name is\b|\bi(?:'m|’m|&#39;m| am|m)\b[^.!?]{0,30}\b(?:rapper|singer|producer|artist|"
    r"musician|youtuber|songwriter|dancer|band)\b|\bi rap\b|\bgetting (?:popular|known)\b"
)
_APOLOGY = (
    r"\bspam|\b(?:no one|nobody)\b[^.!?]{0,30}\bread this\b|\bplease read\b|"
    r"\bsorry (?:for|about|if) (?:the |this |my )?(?:spam|annoy)"
)
_SPAM_CUES = (
    _CHECK_OUT, _SUBSCRIBE, _MY_CONTENT, _LINK, _PLEASE, _ENGAGE, _MONEY, _EVERYONE, _SELF_INTRO,
    _APOLOGY,
)  # fmt: skip
# A HAM vote is only cast on comments that carry none of the cues above: fan talk.
_SPAM_CUE_RE = re.compile("|".join(_SPAM_CUES), _FLAGS)

check_out = regex_lf("check_out", _CHECK_OUT, SPAM)
check_out.__doc__ = "Spammers ask readers to look at their content; fans rarely do."
subscribe = regex_lf("subscribe", _SUBSCRIBE, SPAM)
subscribe.__doc__ = "Asking for subscribers is the commonest kind of comment spam."
my_content = regex_lf("my_content", _MY_CONTENT, SPAM)
my_content.__doc__ = "Self-promotion: the author points at their own channel or work."
link = regex_lf("link", _LINK, SPAM)
link.__doc__ = "Links lead away from the video: to channels, shops, surveys."
please = regex_lf("please", _PLEASE, SPAM)
please.__doc__ = "Spam begs for something (subscribers, views, votes); fans don't ask."
engage = regex_lf("engage", _ENGAGE, SPAM)
engage.__doc__ = "Calls to like, share, vote or follow elsewhere: the reader acts for the author."
money = regex_lf("money", _MONEY, SPAM)
money.__doc__ = "Money and free stuff: get-rich and giveaway scams."
hey_everyone = regex_lf("hey_everyone", _EVERYONE, SPAM)
hey_everyone.__doc__ = "Addressing the whole audience opens a pitch; fans talk about the video."
self_intro = regex_lf("self_intro", _SELF_INTRO, SPAM)
self_intro.__doc__ = "Introducing yourself to strangers is how aspiring artists advertise."
spam_apology = regex_lf("spam_apology", _APOLOGY, SPAM)
spam_apology.__doc__ = "Only spammers apologise for spamming (or guess that nobody will read them)."


def _plain(texts: pd.Series) -> pd.Series:
    """Comment text without HTML tags, entities and the byte-order marks of the export."""
    return (
        texts.astype("string")
        .str.replace(r"<[^>]*>", " ", regex=True)
        .str.replace(r"&#39;|&quot;", "'", regex=True)
        .str.replace("&lt;", "<", regex=False)
        .str.replace("&gt;", ">", regex=False)
        .str.replace("&amp;", "&", regex=False)
        .str.replace(r"&#?\w+;", " ", regex=True)
        .str.replace("\ufeff", "", regex=False)
        .str.strip()
    )


@labeling_function(vectorized=True, column="text", pre=[_plain])
def shouting(texts: pd.Series) -> np.ndarray:
    """Long all-caps comments shout for attention, which is what spam wants."""
    letters = texts.str.count(r"[A-Za-z]")
    share = texts.str.count(r"[A-Z]") / letters.where(letters > 0)
    return np.where(((letters >= 30) & (share > 0.7)).fillna(False), SPAM, ABSTAIN)


@labeling_function(vectorized=True, column="text", pre=[_plain])
def long_comment(texts: pd.Series) -> np.ndarray:
    """Long comments are mostly pitches: a fan's reaction fits in a line."""
    return np.where(texts.str.split().str.len().fillna(0) >= 40, SPAM, ABSTAIN)


# ---------------------------------------------------------------- HAM cues (fan talk)
def _free_of_spam_cues(texts: pd.Series, candidates: np.ndarray) -> np.ndarray:
    """``candidates`` narrowed to rows with no spam cue (the cues are only searched there)."""
    keep = np.asarray(candidates, dtype=bool).copy()
    cue = texts[keep].str.contains(_SPAM_CUE_RE, regex=True).fillna(False)
    keep[keep] = ~cue.to_numpy(dtype=bool)
    return keep


@labeling_function(vectorized=True, column="text", pre=[_plain])
def few_words(texts: pd.Series) -> np.ndarray:
    """Short comments with no spam cue are reactions ("Awesome", "love it"): spam needs words."""
    short = (texts.str.split().str.len() <= 8).fillna(False).to_numpy(dtype=bool)  # missing: no vote
    return np.where(_free_of_spam_cues(texts, short), HAM, ABSTAIN)


@labeling_function(vectorized=True, column="text", pre=[_plain])
def emoji_only(texts: pd.Series) -> np.ndarray:
    """Comments of emoji and punctuation only are pure reactions."""
    has_words = texts.str.contains(r"[A-Za-z]{2}", regex=True).fillna(True)  # missing: no vote
    return np.where(has_words, ABSTAIN, HAM)


def _fan_talk_lf(name: str, pattern: str, doc: str) -> VectorizedLabelingFunction:
    """HAM where ``pattern`` occurs in a comment free of spam cues."""
    compiled = re.compile(pattern, _FLAGS)

    def vote(texts: pd.Series) -> np.ndarray:
        found = texts.str.contains(compiled, regex=True).fillna(False).to_numpy(dtype=bool)
        return np.where(_free_of_spam_cues(texts, found), HAM, ABSTAIN)

    vote.__doc__ = doc
    return labeling_function(name, vectorized=True, column="text", pre=[_plain])(vote)


song_praise = _fan_talk_lf(
    "song_praise",
    r"\b(?:love|like|lov|luv)\w* (?:this|the|that|her|his|ur|your) "
    r"(?:song|music|video|vid|track|beat)|"
    r"\b(?:best|great|awesome|amazing|beautiful|nice|good|favou?rite|catchy) "
    r"(?:song|music|video|track)|"
    r"\bi (?:love|like|miss) (?:this|it|her|him|you|u)\b",
    "Praise of the song itself is what fans write.",
)
this_song = _fan_talk_lf(
    "this_song",
    r"\b(?:this|the) (?:song|music|beat|lyrics|chorus|dance)\b",
    "Talking about the song on its own page is on-topic fan talk.",
)
artist = _fan_talk_lf(
    "artist",
    r"(?:^|\W)(?:psy|katy|perry|eminem|rihanna|shakira|lmfao|gangnam|roar|waka|party rock)",
    "Mentions of the singer or the song title: fans talk about the video.",
)
view_count = _fan_talk_lf(
    "view_count",
    r"\bviews?\b|\bviewed\b|\bbillion\b|\bmillion\b",
    "Marvelling at the view count is a fan habit, not a sales pitch.",
)
nostalgia = _fan_talk_lf(
    "nostalgia",
    r"\bwatching\b.*\b20[01]\d\b|\b20[01]\d\b.*\b(?:watching|listening)\b|years (?:ago|later)|"
    r"\bstill (?:watching|listening|love)|\bremember when\b|\bback when\b",
    "'Who is still watching in 2015?': fans remembering the song, not selling anything.",
)
laughter = _fan_talk_lf(
    "laughter",
    r"\b(?:lol|lmao|haha\w*|rofl|xd)\b|<3|❤|♥",
    "Laughter and hearts are reactions; spam keeps a salesman's tone.",
)

LFS = [
    check_out,
    subscribe,
    my_content,
    link,
    please,
    engage,
    money,
    hey_everyone,
    self_intro,
    spam_apology,
    shouting,
    long_comment,
    few_words,
    emoji_only,
    song_praise,
    this_song,
    artist,
    view_count,
    nostalgia,
    laughter,
]
