"""Response shapes of the API. Dataclasses: orjson encodes them, Litestar documents them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated

from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from msgspec import Meta

# A draft is held to what a dump's headline is held to (one limit for both).
from indexer.readers.limits import MAX_HEADLINE_CHARS


@dataclass(slots=True)
class CountryOut:
    code: str
    name: str


@dataclass(slots=True)
class EntityOut:
    name: str
    type: str


@dataclass(slots=True)
class SourceOut:
    name: str
    url: str


@dataclass(slots=True)
class Hit:
    """One event as a search result. `snippet` is the headline as HTML: matched terms in
    <b>, everything else escaped. `suggested_story`: for an event without a story, the
    story its nearest labelled neighbours suggest, shown (and counted in the story facet
    and filter) only at or above the linking threshold, with its calibrated
    `suggested_story_confidence` (indexer/story_links.py)."""

    id: str
    date: dt.date
    headline: str
    snippet: str
    story: str | None
    topics: list[str]
    countries: list[CountryOut]
    entities: list[EntityOut]
    sources: list[SourceOut]
    suggested_story: str | None = None
    suggested_story_confidence: float | None = None


@dataclass(slots=True)
class FacetValue:
    """`toggle` is the query string that ticks or unticks this value (paging restarts);
    `type` is the entity kind, or the date interval (day, month, year)."""

    value: str
    label: str
    count: int
    selected: bool
    toggle: str = ""
    type: str | None = None


@dataclass(slots=True)
class Facets:
    country: list[FacetValue]
    topic: list[FacetValue]
    entity: list[FacetValue]
    story: list[FacetValue]
    source: list[FacetValue]
    date: list[FacetValue]


@dataclass(slots=True)
class SearchResponse:
    """`next_cursor` continues after the last hit (stable while the index changes),
    `prev_cursor` (on every page but the first) goes back to the page before;
    `corrected_query` is set when words matching nothing were matched fuzzily;
    `warnings` lists what a lenient parse ignored; `facet_sample` is the share of the
    matching events the facet counts were taken from: 1.0 means exact counts, less means
    estimates scaled up from a sample (above 50,000 matches, unless `exact_facets`)."""

    total: int
    took_ms: float
    page: int
    size: int
    hits: list[Hit]
    facets: Facets
    facet_sample: float = 1.0
    next_cursor: str | None = None
    prev_cursor: str | None = None
    corrected_query: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class VersionOut:
    slug: str
    headline: str
    timestamp: str | None
    current: bool


@dataclass(slots=True)
class RelatedLinkOut:
    """A related event as the source listed it; `indexed` says whether we hold it."""

    id: str
    headline: str
    date: dt.date | None
    context: list[str]
    indexed: bool


@dataclass(slots=True)
class EventDetail(Hit):
    versions: list[VersionOut] = field(default_factory=list)
    related_links: list[RelatedLinkOut] = field(default_factory=list)
    source_format: str = ""


@dataclass(slots=True)
class RelatedHit(Hit):
    """A related event; `context` names the tags it shares with the event asked about;
    `score` is the weighted sum of `score_parts` (text, entities, countries, story, time,
    meaning)."""

    score: float = 0.0
    score_parts: dict[str, float] = field(default_factory=dict)
    context: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RelatedResponse:
    """`hits` are ranked by us; `source_links` are the related events the source page
    itself listed, where it has them."""

    id: str | None
    hits: list[RelatedHit]
    source_links: list[RelatedLinkOut] = field(default_factory=list)


@dataclass(slots=True)
class DraftEvent:
    """An unsaved event to find related events for: a headline, and optionally its date
    (default today) and story."""

    headline: Annotated[str, Meta(min_length=1, max_length=MAX_HEADLINE_CHARS)]
    date: dt.date | None = None
    story: Annotated[str, Meta(max_length=MAX_HEADLINE_CHARS)] | None = None


@dataclass(slots=True)
class Health:
    """Alive. `pid`: the server process that answered (one of `serve --workers N`)."""

    status: str
    events: int
    data_dir: str
    generation: str | None
    pid: int


@dataclass(slots=True)
class Ready:
    """Ready (`status` "ready") or not ("unavailable", with `reason`). `generation_age_seconds`:
    since the served generation was published; `fallback`: why an older generation is served
    instead of the published one, when it is."""

    status: str
    pid: int
    generation: str | None = None
    events: int | None = None
    generation_age_seconds: float | None = None
    fallback: str | None = None
    reason: str | None = None
    replica: ReplicaStatus | None = None


@dataclass(slots=True)
class ReplicaStatus:
    """A replica (`serve --follow`): what it serves against what the primary has published.
    `lag_seconds`: 0 when it serves the primary's latest commit, else the seconds since the
    primary made the commit it has not got yet; `seconds_since_poll`: since it last
    reached the primary; `error`: why the last poll or copy failed, if it did."""

    primary: str
    serving_generation: str | None = None  # the primary's generation this copy is of
    serving_commit: int | None = None
    primary_generation: str | None = None
    primary_commit: int | None = None
    lag_seconds: float | None = None
    seconds_since_poll: float | None = None
    error: str | None = None


@dataclass(slots=True)
class ManifestFile:
    name: str
    size: int
    sha256: str


@dataclass(slots=True)
class GenerationManifest:
    """The published generation as a replica copies it: every file a reader needs, and the
    Tantivy commit (`commit`, meta.json's opstamp) they make up; an upsert or delete on the
    primary is a new commit. `published_at`: when that commit became live (Unix time)."""

    generation: str
    commit: int
    events: int
    published_at: float
    files: list[ManifestFile]


@dataclass(slots=True)
class ReloadResult:
    generation: str | None
    changed: bool


MAX_REINDEX_PATHS = 1000
DumpPath = Annotated[str, Meta(min_length=1, max_length=4096, pattern="^[^\x00]*$")]
"""A path as a file system takes it: not empty, no NUL byte, at most PATH_MAX."""


@dataclass(slots=True)
class ReindexRequest:
    """Dump paths, relative to the configured dump directory (or absolute inside it)."""

    paths: Annotated[list[DumpPath], Meta(min_length=1, max_length=MAX_REINDEX_PATHS,
                                           examples=[["latest.ndjson"]])]
    # The example is the dump tests/test_api_fuzz.py puts in its dump directory: a reindex
    # job the fuzzer starts from it is real.


@dataclass(slots=True)
class JobStatus:
    """A reindex job: `state` is running, succeeded, succeeded-with-rejects or failed;
    `progress` is the job's latest report, `summary` its final counts."""

    id: str
    state: str
    paths: list[str]
    started: float
    finished: float | None
    exit_code: int | None
    progress: dict | None
    summary: dict | None
    error: str | None


@dataclass(slots=True)
class RejectedOut:
    location: str
    reason: str


@dataclass(slots=True)
class UpsertResult:
    """Counts of an NDJSON upsert; read = indexed + merged + rejected. `cache_hits`: events
    whose labels came from the enrichment cache (the same headline indexed before)."""

    read: int
    indexed: int
    merged: int
    rejected: list[RejectedOut]
    cache_hits: int = 0


@dataclass(slots=True)
class Suggestion:
    """A completion: `kind` is entity, story, country or term; `filter` the parameter that
    narrows a search to it (none for plain terms)."""

    text: str
    kind: str
    count: int
    type: str | None
    filter: dict[str, str] | None


@dataclass(slots=True)
class SuggestResponse:
    query: str
    took_ms: float
    suggestions: list[Suggestion]


@dataclass(slots=True)
class FacetSearchResponse:
    facet: str
    prefix: str
    values: list[FacetValue]


# --- Documented errors ------------------------------------------------------------------
# Every answer a route can give is in the OpenAPI document (schemathesis checks it): these
# lists go to the handlers' `raises`. Each error body is {"status_code", "detail"}, the
# detail naming the problem or the limit.


class ReindexHoldsTheIndex(ClientException):
    """Documents the 409 that indexer.index.storage.ReindexRunning is answered with."""

    status_code = 409
    detail = "a reindex holds the data directory: retry after Retry-After seconds"


PUBLIC_ERRORS = [ValidationException, TooManyRequestsException]
"""Any public route: a parameter out of its range (400), the rate limit (429)."""
BODY_ERRORS = [*PUBLIC_ERRORS, RequestEntityTooLarge]
"""A public route that takes a body: also 413, past the route's body size limit."""
class DiskFullAnswer(HTTPException):
    """Documents the 507 that indexer.index.storage.DiskFull is answered with."""

    status_code = 507
    detail = "no space left on device for the data directory: the index is unchanged"


class ReplicaRefusesWrites(ClientException):
    """A read replica (`serve --follow`) changes nothing: writes go to its primary."""

    status_code = 405
    detail = "this server is a read replica: send writes to its primary"


WRITE_ERRORS = [*BODY_ERRORS, NotAuthorizedException, PermissionDeniedException,
                ReindexHoldsTheIndex, ServiceUnavailableException, DiskFullAnswer,
                ReplicaRefusesWrites]
"""A write route: also a missing or wrong key (401), writes switched off (403), a read
replica (405), a reindex running (409), the keys file unreadable (503), the disk full (507)."""
NOT_FOUND = [NotFoundException]
