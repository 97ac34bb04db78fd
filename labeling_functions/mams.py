"""Labeling functions for MAMS-ACSA: which of 8 aspect categories a restaurant-review
sentence talks about (multi-label: ambience, food, menu, miscellaneous, place, price,
service, staff).

Written as a user would in an afternoon: keywords and patterns per aspect from knowing
restaurant reviews, checked only against the train split (never val or test). Each LF
votes on one aspect: PRESENT where its cue appears and, for a few, ABSENT where a cue
rules the aspect out. Load them with
``weaklabel.load_lfs("labeling_functions.mams")`` and apply them with
``weaklabel.multilabel.apply_multilabel_lfs(lfs, data, MAMS_CLASSES)``.

Measured by ``python -m benchmarks.multilabel`` (``benchmarks/results/multilabel.md``
holds the per-LF table: coverage and precision per split).
"""

from __future__ import annotations

from weaklabel.multilabel import ABSENT, keyword_lf, regex_lf

# ---------------------------------------------------------------- ambience
atmosphere = keyword_lf(
    "atmosphere",
    ["atmosphere", "ambience", "ambiance", "decor", "décor", "setting", "vibe", "mood"],
    "ambience",
)
sound_and_light = keyword_lf(
    "sound_and_light",
    ["music", "noise", "lighting", "candles", "candlelit", "quiet", "romantic", "relaxed",
     "relaxing", "lively", "elegant"],
    "ambience",
)

# ---------------------------------------------------------------- food
food_word = keyword_lf(
    "food_word",
    ["food", "meal", "meals", "dish", "dishes", "cuisine", "cooking", "cooked", "fare",
     "dinner", "lunch", "brunch", "breakfast", "dessert", "desserts", "appetizer",
     "appetizers", "entree", "entrees", "entrée", "starter", "starters", "course", "courses"],
    "food",
)
dish_names = regex_lf(
    "dish_names",
    r"\b(?:pasta|pizza|steak|sushi|sashimi|burgers?|fries|salad|soup|chicken|beef|pork|lamb|"
    r"duck|fish|salmon|tuna|shrimp|lobster|crab|oysters?|mussels|scallops|calamari|noodles|"
    r"rice|bread|cheese|sauce|dumplings?|tacos?|burrito|curry|ribs|wings|sandwich(?:es)?|"
    r"bagels?|eggs?|pancakes?|cake|pie|ice cream|chocolate|tiramisu|gelato|risotto|ravioli|"
    r"gnocchi|lasagna|filet|mignon|veal|tofu|vegetables|veggies|potatoes|guacamole|chips)\b",
    "food",
)
taste = keyword_lf(
    "taste",
    ["delicious", "tasty", "taste", "tasted", "tastes", "flavor", "flavors", "flavour",
     "flavorful", "bland", "yummy", "fresh", "overcooked", "undercooked", "greasy", "salty",
     "spicy", "seasoned", "juicy", "tender", "crispy", "soggy"],
    "food",
)
drinks = keyword_lf(
    "drinks",
    ["wine", "wines", "beer", "beers", "cocktail", "cocktails", "martini", "martinis",
     "sangria", "margarita", "margaritas", "mojito", "drink", "drinks", "coffee", "tea",
     "sake", "glass of", "bottle"],
    "food",
)

# ---------------------------------------------------------------- menu
menu_word = keyword_lf("menu_word", ["menu", "menus"], "menu")
menu_items = keyword_lf(
    "menu_items", ["items", "choices", "tasting menu", "offerings", "ordered off"], "menu"
)

# ---------------------------------------------------------------- miscellaneous
# Reviewers' asides about the visit itself: booking, portion sizes, getting a table.
reservation = keyword_lf(
    "reservation",
    ["reservation", "reservations", "reserved", "booked", "walk-in", "walk in"],
    "miscellaneous",
)
portions = keyword_lf(
    "portions", ["portion", "portions", "portion size", "serving size", "generous", "helpings"],
    "miscellaneous",
)
getting_a_table = regex_lf(
    "getting_a_table",
    r"\b(?:a|our|the|no|free|empty|next) table\b|\barrived\b|\bearly\b",
    "miscellaneous",
)

# ---------------------------------------------------------------- place
at_the_bar = keyword_lf("at_the_bar", ["bar", "bar area", "bar stool", "lounge"], "place")
seating_space = keyword_lf(
    "seating_space",
    ["seating", "tables", "space", "room", "packed", "cramped", "booth", "booths", "area",
     "location", "garden", "patio", "window", "hole in the wall"],
    "place",
)
the_place = keyword_lf("the_place", ["place", "places"], "place")

# ---------------------------------------------------------------- price
price_word = keyword_lf(
    "price_word",
    ["price", "prices", "priced", "bill", "cost", "reasonable", "reasonably", "dollars",
     "bargain", "value for"],
    "price",
)

# ---------------------------------------------------------------- service
service_word = keyword_lf(
    "service_word", ["service", "served", "waiting", "slow", "prompt", "efficient"], "service"
)

# ---------------------------------------------------------------- staff
staff_people = keyword_lf(
    "staff_people",
    ["waiter", "waiters", "waitress", "waitresses", "server", "servers", "staff", "host",
     "hostess", "manager", "bartender", "bartenders", "busboy", "busboys", "maitre d",
     "maître d", "owner", "owners", "chef", "sommelier", "wait staff", "waitstaff", "employees"],
    "staff",
)
staff_manner = keyword_lf(
    "staff_manner",
    ["rude", "friendly", "courteous", "helpful", "accommodating", "accomodating", "attitude",
     "arrogant", "knowledgeable", "welcoming"],
    "staff",
)
# Someone acting toward the party ("he told us", "she asked"): in a restaurant, staff.
someone_acted = regex_lf("someone_acted", r"\b(?:he|she|told us|asked us|asked)\b", "staff")

# ---------------------------------------------------------------- absent cues
# A sentence about how the staff behaved at the door names no dish, drink or taste: the
# food category is then unlikely. Only fires where no food cue appears anywhere.
no_food_cue = regex_lf(
    "no_food_cue",
    r"^(?!.*\b(?:food|meal|dish|dishes|eat|ate|eating|dinner|lunch|brunch|breakfast|dessert|"
    r"appetizer|entree|order|ordered|taste|delicious|tasty|flavor|drink|drinks|wine|beer|"
    r"kitchen|cook|cooked|menu|plate|plates|bite|pizza|pasta|steak|sushi|fish|chicken|"
    r"salad|soup|bread|coffee|tea|cocktail|sauce)\b).*\b(?:waiter|waitress|hostess|host|"
    r"manager|staff|reservation|service)\b",
    "food",
    vote=ABSENT,
)
