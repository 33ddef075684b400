"""The patterns the answerer uses, and its word lists under the names the answer modules use.

The word lists themselves are data (``data/lexicon/fr.toml`` and ``en.toml``, read once by
:func:`hdf_assistant.analysis.lexicon`): words that frame a question (what kind of answer it wants)
rather than its topic, the words that introduce names, and a small English -> French glossary for
English questions about French documents. The patterns (regular expressions) stay in code.
"""

from __future__ import annotations

import re

from hdf_assistant.analysis import lexicon

_WORDS = lexicon()

# -- the expected kind of answer -------------------------------------------------------
#: where "quand" / "où" (when / where) ask the question: at the start of the question or of a clause
#: ("Mon chat s'est perdu, où ...", "Et quand ..."), after a verb of asking ("savoir où") or last ("Il a
#: été créé quand ?"); elsewhere they join a clause ("Comment obtenir mon casier quand je suis né à
#: l'étranger ?" asks no date)
_ASKS_HERE = (r"(?:^|[,;:(]\s*|\b(?:savoir|sais|sait|dire|dites|indiquer|demander|know|tell me|ask)\s+)"
              r"(?:(?:et|mais|alors|and|but|so)\s+)?")
#: (kind, pattern): the first pattern that matches a question gives its kind
ANSWER_TYPES: list[tuple[str, re.Pattern[str]]] = [
    ("year", re.compile(
        rf"{_ASKS_HERE}(?:depuis |jusqu['’]à |à partir de |since |until )?(?:quand|when)\b|\bquand\s*\?|"
        r"en quelle ann[ée]e|depuis quelle ann[ée]e|what year|which year", re.I)),
    ("number", re.compile(
        r"\bcombien\b|how many|how much|\bquel(?:le)?s? (?:est |sont )?(?:le |la |les )?(?:nombre|taux|part|"
        r"pourcentage|montant|proportion|chiffre|effectif|budget|co[uû]t|prix|plafond|maximum|minimum)|"
        r"what (?:is the )?(?:share|percentage|proportion|rate|number|amount|maximum|minimum|cap|limit|size|total)|"
        r"\bquel taux\b|\bquelle part\b|\bnombre de\b|\bhow (?:long|old|big|large)\b", re.I)),
    ("place", re.compile(rf"{_ASKS_HERE}(?:d['’]|par |jusqu['’])?(?:o[uù]|where)\b|\bo[uù]\s*\?|quelle ville|"
                         r"which city|in which (?:city|town|region)|"
                         r"dans quelle (?:ville|commune|r[ée]gion|m[ée]tropole)", re.I)),
    ("org", re.compile(
        r"quel(?:le)?s? (?:est |sont )?(?:le |la |les |l['’])?(?:\w+ )?"
        r"(?:entreprises?|soci[ée]t[ée]s?|organisations?|organismes?|structures?|p[ôo]les?|"
        r"associations?|acteurs?|groupes?|incubateurs?|centres?|clusters?|laboratoires?|[ée]diteurs?)\b|"
        r"(?:which|what) (?:\w+ ){0,2}(?:company|companies|firms?|organi[sz]ations?|centres?|centers?|hubs?|"
        r"clusters?|groups?|labs?|laboratory|publishers?)\b", re.I)),
    # a named person: "qui dirige / préside / a fondé", "qui est le président", "who leads"
    ("person", re.compile(
        r"\bqui (?:dirige|pr[ée]side|g[èe]re|anime|a (?:fond[ée]|cr[ée]{2}|lanc[ée]|dirig[ée])|"
        r"est (?:le|la|l['’]) ?(?:pr[ée]sident|directeur|directrice|maire|fondateur|fondatrice|responsable|"
        r"ministre|pr[ée]fet|dirigeant|chef|pdg))|"
        r"\bwho (?:is|was) the\b|\bwho (?:leads|runs|heads|founded|created|directs|manages|chairs)\b", re.I)),
]

#: (unit, pattern): what kind of value a number question wants; the first that matches a question
#: (folded, lower case) gives its unit
UNITS: list[tuple[str, re.Pattern[str]]] = [
    ("duration", re.compile(
        r"combien de (?:temps|jours|mois|semaines|annees|ans|heures)|pendant combien|au bout de combien|"
        r"en combien de temps|jusqu.a quand|\bquel(?:le)?s? (?:est |sont )?(?:la |le |les )?(?:\w+ )?"
        r"(?:duree|delai)s?\b|how long|how many (?:days|months|weeks|years|hours)")),
    ("age", re.compile(r"\bquel age\b|a quel age|\bage (?:minimum|maximum|limite)|how old|at what age")),
    ("percent", re.compile(
        r"\bquel(?:le)?s? (?:est |sont )?(?:le |la |les )?(?:taux|pourcentage|part|proportion)\b|"
        r"what (?:is the )?(?:percentage|share|rate|proportion)")),
    ("money", re.compile(
        r"combien (?:coute|coutent|couteront|paie|paye|payer|rembourse|touche|gagne|vaut|valent)|"
        r"combien (?:d.argent|d.euros)|\bquel(?:le)?s? (?:est |sont )?(?:le |la |les |l.)?(?:\w+ )?"
        r"(?:prix|cout|montant|tarif|salaire|loyer|somme|frais|amende|taxe|indemnite|allocation|prime|aide)s?\b|"
        r"how much|what (?:is the )?(?:price|cost|fee|amount)")),
]
#: a value of each unit, as French or English text writes it
UNIT_VALUES: dict[str, re.Pattern[str]] = {
    "duration": re.compile(
        r"\b(?:\d+(?:[,.]\d+)?|un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze|quinze|trente|"
        r"quarante|soixante|cent)\s*(?:jours?|mois|ans?|annees?|semaines?|heures?|h\b|minutes?|trimestres?|"
        r"days?|months?|years?|weeks?|hours?)\b|\b\d{1,2}/\d{1,2}|\b(?:janvier|fevrier|mars|avril|mai|juin|"
        r"juillet|aout|septembre|octobre|novembre|decembre)\b|\bimmediatement\b|\bsans delai\b|"
        r"\ba tout moment\b|\bchaque (?:annee|mois|jour|semaine)\b|\bpar an\b"),
    "age": re.compile(r"\b\d+\s*(?:ans?|years?)\b|\b(?:majeur|mineur)e?s?\b|\banniversaire\b"),
    "percent": re.compile(r"\d\s?%|pour ?cent|percent|\bmoitie\b|\btiers\b|\bquart\b|\d+/\d+"),
    "money": re.compile(r"\d\s?(?:€|euros?\b|eur\b|k€|m€)|€\s?\d|\bgratuit|\bfree\b|\bpayant"),
}
DURATION_NOUNS = _WORDS.words("duration_nouns")

YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
#: a number as written in French or English text: "1791", "1 791", "15 000", "2,7 %", "6 000€"
NUMBER = re.compile(r"(?<![\w,.])\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d])|(?<![\w,.])\d+(?:[,.]\d+)?(?![\d])")
PROPER = re.compile(r"(?:(?<=\b[lLdD]['’])|(?<=\b[qQ]u['’])|(?<![\w'’]))([A-ZÀ-ÖØ-Þ][\w\-]*[\w])")

QUESTION_WORDS = _WORDS.words("question_words")
NAME_JOINERS = _WORDS.words("name_joiners")

FRAME_WORDS = _WORDS.words("frame_words")
DETERMINERS = _WORDS.words("determiners")
MEASURE_WORDS = _WORDS.words("measure_words")
FOCUS_ADJECTIVES = _WORDS.words("focus_adjectives")
INVERSION = re.compile(r"-(?:t-)?(?:il|elle|ils|elles|on)$")

ENGLISH_CONCEPTS = _WORDS.concepts

# -- sentences ---------------------------------------------------------------------------
BULLET = re.compile(r"^\s*(?:[-•*–—▪●]|\d+[.)])\s")
#: a table row as PDF extraction writes it: "Année: 2020 | Apprenants: 1 050"
TABLE_ROW = re.compile(r"^[^|:\n]{1,60}: [^|\n]*(?: \| [^|:\n]{1,60}: [^|\n]*)+$")
ANAPHORA = re.compile(
    r"^(?:ce|cet|cette|ces|celui|celle|ceux|il|elle|ils|elles|celui-ci|celle-ci|"
    r"this|these|it|they|he|she)\b",
    re.IGNORECASE,
)
#: counts written in words ("neuf tiers-lieux"), for the short answer when a sentence has no figure
#: ("un"/"une" are left out: they are articles far more often than counts)
NUMBER_WORDS = re.compile(
    r"\b(?:deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize|vingt|"
    r"trente|quarante|cinquante|soixante|cent|mille|two|three|four|five|six|seven|eight|nine|ten|eleven|"
    r"twelve|twenty|hundred|thousand)\b",
    re.I,
)
#: a sentence that announces a list: "... en quatre axes :", "deux secteurs d'avenir :"
LIST_COUNT = re.compile(r"\b(?:deux|trois|quatre|cinq|six|sept|huit|plusieurs|two|three|four|five|several|\d)\b",
                        re.I)
#: a question that asks for several things
PLURAL_QUESTION = re.compile(r"\b(?:quels|quelles|lesquels|lesquelles|what are|which are|list)\b|"
                             r"\b(?:deux|trois|quatre|cinq|two|three|four|five)\b", re.I)
#: where a sentence's clauses part: the figure before "mais aussi X" is not X's
CLAUSE_BREAK = re.compile(r";|\bmais\b|\btandis que\b|\balors que\b|\bwhereas\b|\bwhile\b|\bbut\b", re.I)
#: a sentence framed by a place: "A Amiens, un campus numérique a ouvert en 2019."
PLACE_FRAME = re.compile(r"^\s*(?:À|A|En|Au|Aux|Dans|In|At)\s+(?:l['’]|la |le )?([A-ZÀ-Þ][\w\-]+)\s*,")
PLACE_PREPOSITIONS = _WORDS.words("place_prepositions")
NOT_PERSON = _WORDS.words("not_person")
#: titles before a person's name
PERSON_TITLES = re.compile(r"\b(?:M\.|Mme|Mlle|Monsieur|Madame|Dr|Pr|Me)\s+[A-ZÀ-Þ]")
