"""Answer parsers: pure functions from a model's text to a structured outcome."""

from harness.parsing._text import clean, fold, fuzzy_mentions
from harness.parsing.choice import ChoiceParse, parse_choice
from harness.parsing.methods import METHODS, is_decided
from harness.parsing.ranking import RankingParse, parse_ranking

__all__ = [
    "METHODS",
    "ChoiceParse",
    "RankingParse",
    "clean",
    "fold",
    "fuzzy_mentions",
    "is_decided",
    "parse_choice",
    "parse_ranking",
]

from harness.parsing.yesno import YesNoParse, parse_yesno

__all__ += ["YesNoParse", "parse_yesno"]
