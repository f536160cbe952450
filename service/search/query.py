"""Turn a search request (search-box text plus filters) into Tantivy queries.

Search-box syntax: all words required; "phrases"; AND, OR, NOT and -word; field:value on
the label fields. Lenient by default: a stray quote or parenthesis, or a dangling operator,
is dropped and the rest searched (the response says what was ignored); `strict=true` turns
those into 400 errors with their position. An unknown field ("Brexit: what next") is
searched as a word, with a warning; under `strict=true` it is an error too.
When a plain word matches nothing, it is replaced by the closest headline word in the
index (edit distance 1 for words of 5 to 8 letters, 2 beyond; the more frequent on a tie)
and the response carries the corrected query.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from dataclasses import dataclass, field

import msgspec
import tantivy

from indexer.enrich.countries import normalise_country
from indexer.index.schema import FIELD_BOOSTS, FULL_TEXT_FIELDS, LABEL_FIELDS, calendar_cover
from indexer.record import TOPICS

SORTS = ("relevance", "-date", "date", "date:desc", "date:asc")
"""`-date` (alias `date:desc`) lists the newest events first, `date` (`date:asc`) the oldest."""
MAX_QUERY_LENGTH = 1000
MAX_PAGE_SIZE = 100
MAX_FILTER_VALUES = 50  # values of country, topic, entity, story and source together
MAX_FACET_SIZE = 100  # values listed per facet; "All ..." searches the rest (/api/facets)
MAX_FACET_SIZE_VALUES = 7  # `N` for all facets plus one `FACET:N` per facet
DAY_FORMAT = {"format": "date"}
"""How a `from`/`to` parameter is documented: read as text by `parse_day`, whose 400 says
what is wrong with it (Litestar's own date parsing answers "Invalid RFC3339 encoded date"
under the Python name of the argument)."""
FACET_NAMES = ("country", "topic", "entity", "story", "source", "date")
SEARCHABLE_FIELDS = frozenset(FULL_TEXT_FIELDS) | frozenset(LABEL_FIELDS)
_OPERATORS = {"AND", "OR", "NOT"}
_STEMMER = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.remove_long(40))
    .filter(tantivy.Filter.lowercase())
    .filter(tantivy.Filter.stemmer("english"))
    .build()
)  # the same analysis as Tantivy's `en_stem`, to look words up as they were indexed


class BadQuery(ValueError):
    """The request cannot be searched; the message is shown to the client as is."""


_SELECTIONS = {"country": "countries", "topic": "topics", "entity": "entities",
               "story": "stories", "source": "sources"}
"""The SearchRequest attribute holding each facet's selected values."""


@dataclass(frozen=True)
class SearchRequest:
    text: str = ""
    countries: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    stories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    sort: str = "relevance"
    page: int = 1
    size: int = 10
    cursor: Cursor | None = None
    strict: bool = False
    facet_sizes: tuple[tuple[str, int], ...] = ()
    recency: float = 0.0
    exact_facets: bool = False
    correct: bool = True  # False: no spelling fallback (the page's "search instead for")
    default_size: int = 10  # the page size that links leave out (the API's 10, the page's 20)

    def selected(self, facet: str) -> tuple[str, ...]:
        selection = _SELECTIONS.get(facet)
        return getattr(self, selection) if selection else ()

    def facet_size(self, facet: str, default: int = 10) -> int:
        return dict(self.facet_sizes).get(facet, dict(self.facet_sizes).get("*", default))

    @property
    def newest_first(self) -> bool:
        return self.sort in ("-date", "date:desc")


class Cursor(msgspec.Struct, array_like=True, frozen=True):
    """Where the previous page ended: search_after on (score, rank) or (rank) for date
    sorts. `rank` is unique per event (day, then a hash of the id), so ties never skip or
    repeat events, and the next page stays right while the index changes."""

    sort: str
    rank: int
    score: float = 0.0
    position: int = 0  # hits ranked before the page the cursor leads to (relevance only)
    before: bool = False  # the page before the cursor's event (`prev_cursor`), not after it

    def encode(self) -> str:
        return base64.urlsafe_b64encode(msgspec.msgpack.encode(self)).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            cursor = msgspec.msgpack.decode(raw, type=cls)
        except (ValueError, msgspec.DecodeError):
            cursor = None
        if cursor is None or not cursor.readable():
            raise BadQuery("invalid cursor: pass the `next_cursor` of a previous response")
        return cursor

    def readable(self) -> bool:
        """Whether the numbers are ones we write: `rank` is an index field of 64 signed
        bits (Tantivy refuses larger), `score` a finite relevance score."""
        return (0 <= self.rank < 2**63 and 0 <= self.position < 2**63
                and math.isfinite(self.score))


@dataclass
class ParsedText:
    query: tantivy.Query
    warnings: list[str] = field(default_factory=list)
    plain_words: list[str] = field(default_factory=list)  # for the fuzzy fallback
    # Words and phrases that every match contains, if the text is nothing else (their
    # frequencies bound the matches).
    required_words: list[str] = field(default_factory=list)


def search_request(
    q: str = "",
    country: list[str] | None = None,
    topic: list[str] | None = None,
    entity: list[str] | None = None,
    story: list[str] | None = None,
    source: list[str] | None = None,
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    sort: str | None = None,
    page: int = 1,
    size: int = 10,
    cursor: str | None = None,
    strict: bool = False,
    facet_size: list[str] | None = None,
    recency: float = 0.0,
    exact_facets: bool = False,
    max_result_window: int = 10_000,
    correct: bool = True,
    default_size: int = 10,
) -> SearchRequest:
    """Validate raw parameters (as the API, the pages and the CLI get them) into a
    SearchRequest."""
    if len(q) > MAX_QUERY_LENGTH:
        raise BadQuery(f"the search text is {len(q)} characters long: at most "
                       f"{MAX_QUERY_LENGTH} are allowed")
    filters = sum(len(values or ()) for values in (country, topic, entity, story, source))
    if filters > MAX_FILTER_VALUES:
        raise BadQuery(f"{filters} filter values: at most {MAX_FILTER_VALUES} are allowed")
    date_from, date_to = parse_day(date_from, "from"), parse_day(date_to, "to")
    if date_from and date_to and date_from > date_to:
        raise BadQuery("`from` is after `to`")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise BadQuery(f"size must be from 1 to {MAX_PAGE_SIZE}")
    if page < 1:
        raise BadQuery("page must be 1 or more")
    sort = sort or default_sort(q)
    if sort not in SORTS:
        raise BadQuery(f"unknown sort {sort!r}: expected one of {', '.join(SORTS)}")
    if page * size > max_result_window:
        raise BadQuery(f"page * size may not exceed {max_result_window}: use `cursor` to go deeper")
    decoded = Cursor.decode(cursor) if cursor else None
    if decoded and decoded.sort != sort:
        raise BadQuery("the cursor belongs to another sort order")
    return SearchRequest(
        text=q,
        countries=tuple(_country_code(value) for value in country or ()),
        topics=tuple(_topic(value) for value in topic or ()),
        entities=tuple(entity or ()),
        stories=tuple(story or ()),
        sources=tuple(source or ()),
        date_from=date_from,
        date_to=date_to,
        sort=sort,
        page=page,
        size=size,
        cursor=decoded,
        strict=strict,
        facet_sizes=tuple(_facet_sizes(facet_size or [])),
        recency=recency,
        exact_facets=exact_facets,
        correct=correct,
        default_size=default_size,
    )


def parse_day(value: dt.date | str | None, name: str) -> dt.date | None:
    """A `from`/`to` day as YYYY-MM-DD; the 400 names the parameter and what is wrong (no
    such day, a year outside 1 to 9999, another format)."""
    if value is None or isinstance(value, dt.date):
        return value
    value = value.strip()  # a form field may carry spaces
    if not _DAY.fullmatch(value):
        raise BadQuery(f"`{name}` is not a date: {value!r} (expected YYYY-MM-DD, years 1 to "
                       "9999)")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:  # "day is out of range for month", "year 0 is out of range"
        raise BadQuery(f"`{name}` is not a date: {value!r} ({error})") from None


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def default_sort(text: str) -> str:
    """Words are ranked by relevance; browsing by filters alone lists the newest first."""
    return "relevance" if text.strip() else "-date"


def parse_text(index: tantivy.Index, text: str, strict: bool = False) -> ParsedText:
    text, unreadable = _readable(text)
    if unreadable and strict:
        raise BadQuery("the search text is not valid Unicode (an unpaired surrogate)")
    if not text.strip():
        return ParsedText(tantivy.Query.all_query())
    ast, errors = tantivy.parse_query_lenient(text)
    unknown = _unknown_fields(ast)
    if unknown and strict:
        raise BadQuery(f"unknown field {unknown[0]!r}: searchable fields are "
                       + ", ".join(sorted(SEARCHABLE_FIELDS)))
    messages = [f"{e['message']} at position {e['pos']}" for e in errors]
    if not messages and not _parses_strictly(text):
        messages = ["an operator with nothing on one side"]  # e.g. "missile AND"
    warnings = []
    if messages and strict:
        raise BadQuery(f"syntax error in {text!r}: " + "; ".join(messages))
    if unknown:  # "Brexit: what next" is words, not a field
        messages += [f"unknown field {name!r} (searched as a word)" for name in unknown]
        text = _UNKNOWN_FIELD.sub(lambda m: m[1] + " " if m[1] in unknown else m[0], text)
    if unreadable:
        messages.append("characters that are not valid Unicode")
    if messages:
        warnings = [f"ignored: {m}" for m in messages]
        text = _tidy(text)
    if not text.strip():
        return ParsedText(tantivy.Query.all_query(), warnings)
    query, _ = index.parse_query_lenient(
        text, default_field_names=list(FULL_TEXT_FIELDS), field_boosts=FIELD_BOOSTS,
        conjunction_by_default=True,
    )
    if messages:  # the text was tidied: read its words anew
        ast = tantivy.parse_query_lenient(text)[0]
    return ParsedText(query, warnings, _plain_words(ast), _plain_words(ast, phrases=True))


def spelling_correction(searcher: tantivy.Searcher, words: list[str]) -> dict[str, str]:
    """For each word that matches nothing, the indexed headline word closest to it (edit
    distance 1 for words of 5 to 8 letters, 2 beyond; the most frequent on a tie)."""
    corrections = {}
    for word in words:
        stems = _STEMMER.analyze(word)
        if len(word) < 5 or len(stems) != 1:
            continue
        if _occurrences(searcher, stems[0]):
            continue
        allowed = 1 if len(word) <= 8 else 2
        best = _closest(word.lower(), searcher.terms_with_prefix(
            "headline_words", word[:1].lower(), None, 20_000), allowed)
        if best:
            corrections[word] = best
    return corrections


def words_match_at_most(searcher: tantivy.Searcher, words: list[str]) -> int | None:
    """At most how many events contain every one of `words` (plain words or phrases) in
    some full-text field: the fewest that any one of their stems occurs in (deleted events
    included). None without words."""
    bound = None
    for word in words:
        for stem in _STEMMER.analyze(word):
            occurs = _occurrences(searcher, stem)
            bound = occurs if bound is None else min(bound, occurs)
    return bound


def _occurrences(searcher: tantivy.Searcher, stem: str) -> int:
    """Events holding `stem` in a full-text field, counted once per field it is in."""
    return sum(searcher.doc_freq(field, stem) for field in FULL_TEXT_FIELDS)


def corrected_text(text: str, corrections: dict[str, str]) -> str:
    for word, replacement in corrections.items():
        text = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", replacement, text)
    return text


def _closest(word: str, terms: list[tuple[str, int]], allowed: int) -> str | None:
    scored = [(_edit_distance(word, term), -count, term) for term, count in terms
              if abs(len(term) - len(word)) <= allowed]
    scored = [entry for entry in scored if entry[0] <= allowed]
    return min(scored)[2] if scored else None


def filter_queries(schema: tantivy.Schema, request: SearchRequest,
                   except_facet: str | None = None) -> list[tantivy.Query]:
    """One clause per filtered facet (several values of one facet match any of them), and
    the date range; `except_facet` leaves that facet's own selection out."""
    clauses = [
        _any_of(schema, facet, values)
        for facet in ("country", "topic", "entity", "story", "source")
        if facet != except_facet and (values := request.selected(facet))
    ]
    if request.date_from or request.date_to:
        clauses.append(_date_range(schema, request.date_from, request.date_to))
    return clauses


def _any_of(schema: tantivy.Schema, field: str, terms) -> tantivy.Query:
    """Events holding any of `terms` in `field`, as a filter: no part of the score. Term
    queries, not a term set: Tantivy runs a term set on a fast field as a scan of the whole
    column, 0.3 ms at a million events even when the words match a few dozen."""
    queries = [tantivy.Query.term_query(schema, field, term) for term in terms]
    either = queries[0] if len(queries) == 1 else tantivy.Query.boolean_query(
        [(tantivy.Occur.Should, query) for query in queries])
    return tantivy.Query.const_score_query(either, 0.0)


def must_all(queries: list[tantivy.Query]) -> tantivy.Query:
    if len(queries) == 1:
        return queries[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])


def rank_after(schema: tantivy.Schema, cursor: Cursor, newest_first: bool) -> tantivy.Query:
    """Events after the cursor's in date order (by `rank`); before it for a `before` cursor."""
    if newest_first != cursor.before:
        return tantivy.Query.range_query(schema, "rank", tantivy.FieldType.Integer,
                                         upper_bound=cursor.rank, include_upper=False)
    return tantivy.Query.range_query(schema, "rank", tantivy.FieldType.Integer,
                                     lower_bound=cursor.rank, include_lower=False)


def _readable(text: str) -> tuple[str, bool]:
    """The text without unpaired surrogates (Python strings may hold them; UTF-8 cannot),
    and whether it had any."""
    readable = text.encode("utf-8", "replace").decode("utf-8")
    return readable, readable != text


_UNKNOWN_FIELD = re.compile(r"([^\s:()\"]+):")


def _parses_strictly(text: str) -> bool:
    try:
        tantivy.parse_query(text)
    except ValueError:
        return False
    return True


def _unknown_fields(ast: dict) -> list[str]:
    name = ast.get("field_name")
    unknown = [name] if name is not None and name not in SEARCHABLE_FIELDS else []
    for _occur, clause in ast.get("clauses", ()):
        unknown += [found for found in _unknown_fields(clause) if found not in unknown]
    return unknown


def _plain_words(ast: dict, phrases: bool = False) -> list[str]:
    """The query's words (and `phrases`, if asked) if it is nothing else: no fields,
    prefixes or operators."""
    if ast.get("type") == "literal":
        delimiters = ("none", "double_quotes", "single_quotes") if phrases else ("none",)
        simple = (ast["field_name"] is None and ast["delimiter"] in delimiters
                  and not ast["prefix"])
        return [ast["phrase"]] if simple else []
    words = []
    for occur, clause in ast.get("clauses", ()):
        if occur is not None or clause.get("type") != "literal":
            return []
        clause_words = _plain_words(clause, phrases)
        if not clause_words:
            return []
        words += clause_words
    return words


def _tidy(text: str) -> str:
    """Drop what the parser could not read: an unpaired quote, unbalanced parentheses,
    operators with nothing on one side."""
    if text.count('"') % 2:
        position = text.rfind('"')
        text = text[:position] + text[position + 1:]
    kept, depth = [], 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                continue
            depth -= 1
        kept.append(char)
    text = "".join(kept)
    while depth:
        position = text.rfind("(")
        text, depth = text[:position] + text[position + 1:], depth - 1
    words = text.split()
    while words and words[0] in _OPERATORS - {"NOT"}:
        words.pop(0)
    while words and words[-1] in _OPERATORS:
        words.pop()
    return " ".join(words)


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _country_code(value: str) -> str:
    code = normalise_country(value)
    if code is None:
        raise BadQuery(f"unknown country {value!r}: give an ISO 3166-1 alpha-2 code or a name")
    return code


def _topic(value: str) -> str:
    if value not in TOPICS:
        raise BadQuery(f"unknown topic {value!r}: expected one of {', '.join(TOPICS)}")
    return value


def _facet_sizes(values: list[str]) -> list[tuple[str, int]]:
    """`10` sets every facet's size, `entity:25` one facet's; 1 to 100 values each."""
    if len(values) > MAX_FACET_SIZE_VALUES:
        raise BadQuery(f"{len(values)} facet_size values: at most {MAX_FACET_SIZE_VALUES} "
                       "(N for every facet, then FACET:N for each of "
                       + ", ".join(FACET_NAMES) + ")")
    sizes = []
    for value in values:
        facet, _, number = value.rpartition(":")
        facet = facet or "*"
        if facet != "*" and facet not in FACET_NAMES or not number.isdigit():
            raise BadQuery(f"bad facet_size {value!r}: use N or FACET:N, facets: "
                           + ", ".join(FACET_NAMES))
        if not 1 <= int(number) <= MAX_FACET_SIZE:
            raise BadQuery(f"facet_size {value!r} must be from 1 to {MAX_FACET_SIZE}")
        sizes.append((facet, int(number)))
    return sizes


_MOST_CALENDAR_TERMS = 200  # 150 years with ragged ends


def _date_range(schema, start: dt.date | None, end: dt.date | None) -> tantivy.Query:
    """Days from `start` to `end` (start <= end), inclusive. A closed range is a union of
    a few `calendar` terms (see the schema); one side open, or a span of many centuries,
    runs on the `day` column (YYYYMMDD, which holds any calendar date), which costs in
    proportion to the events the words match."""
    cover = calendar_cover(start, end) if start and end else []
    if 0 < len(cover) <= _MOST_CALENDAR_TERMS:
        return _any_of(schema, "calendar", cover)
    return tantivy.Query.range_query(
        schema, "day", tantivy.FieldType.Integer,
        lower_bound=_day_number(start) if start else None,
        upper_bound=_day_number(end) if end else None,
    )


def _day_number(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day
