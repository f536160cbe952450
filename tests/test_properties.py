"""Properties that hold for any input (hypothesis): the search box's parser never fails on
what a user types, strict mode fails only with BadQuery, and a facet value ticked and then
unticked gives back the query string it started from."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import tantivy
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from indexer.index.schema import build_schema
from service.search.facets import Toggles, request_params
from service.search.query import (
    MAX_FILTER_VALUES,
    MAX_QUERY_LENGTH,
    BadQuery,
    parse_text,
    search_request,
)

INDEX = tantivy.Index(build_schema())
# Text as people type it, and the characters the query language gives meaning to.
SEARCH_TEXT = st.lists(
    st.one_of(st.text(max_size=6), st.characters(), st.sampled_from(['"', "(", ")", ":", "+", "-", "^", "*", "~",
                                                     "[", "]", "{", "}", "!", "\\", "AND",
                                                     "OR", "NOT", "country:", "TO"])),
    max_size=12).map(" ".join)
LABELS = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)
PROPERTIES = settings(max_examples=300, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow])


@PROPERTIES
@given(SEARCH_TEXT)
@example("Brexit: what next")  # a colon after a word that is no field
@example("\ud800 missiles")  # an unpaired surrogate, which UTF-8 cannot hold
def test_any_text_parses_leniently(text):
    parsed = parse_text(INDEX, text)
    assert isinstance(parsed.query, tantivy.Query)


@PROPERTIES
@given(SEARCH_TEXT)
@example("\ud800 missiles")
def test_strict_parsing_fails_only_with_bad_query(text):
    try:
        parse_text(INDEX, text, strict=True)
    except BadQuery as error:
        assert str(error)


@PROPERTIES
@given(st.text(min_size=MAX_QUERY_LENGTH + 1, max_size=MAX_QUERY_LENGTH + 50))
def test_too_long_a_text_is_a_bad_query_that_names_the_limit(text):
    with pytest.raises(BadQuery, match=str(MAX_QUERY_LENGTH)):
        search_request(q=text)


@PROPERTIES
@given(st.lists(LABELS, min_size=MAX_FILTER_VALUES + 1, max_size=MAX_FILTER_VALUES + 20))
def test_too_many_filter_values_are_a_bad_query_that_names_the_limit(values):
    with pytest.raises(BadQuery, match=f"at most {MAX_FILTER_VALUES}"):
        search_request(entity=values[:20], story=values[20:])
    search_request(entity=values[:MAX_FILTER_VALUES])  # at the limit: fine


@PROPERTIES
@given(q=st.text(max_size=30), entities=st.lists(LABELS, max_size=3, unique=True),
       stories=st.lists(LABELS, max_size=2, unique=True),
       facet=st.sampled_from(["entity", "story", "source"]), value=LABELS)
def test_ticking_a_value_twice_gives_back_the_query(q, entities, stories, facet, value):
    request = search_request(q=q, entity=entities, story=stories)
    once = search_request(**_arguments(Toggles(request, facet)(value)))
    twice = Toggles(once, facet)(value)
    assert parse_qs(twice) == {k: v for k, v in request_params(request).items() if v}


def _arguments(query_string: str) -> dict:
    return {key: values if key in ("entity", "story", "source") else values[0]
            for key, values in parse_qs(query_string).items()}
