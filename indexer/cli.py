"""`eventsearch`: index dumps, serve the API, search and inspect from the shell.

Thin by design: each subcommand parses its arguments, calls one function and prints.
Exit codes: 0 success, 1 failure (one-line reason on stderr), 2 usage error,
3 indexing finished but some records were rejected.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import orjson

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
SAMPLE_DUMP = Path(__file__).resolve().parents[1] / "samples" / "news"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except UsageError as error:
        print(f"eventsearch: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # the CLI's contract: one line, not a traceback
        message = " ".join(str(error).split())  # tantivy's messages span lines
        print(f"eventsearch: {type(error).__name__}: {message}", file=sys.stderr)
        return EXIT_FAILURE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventsearch",
        description="Search service for news events: index archive dumps, serve the search page "
                    "and the API.",
    )
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument(
        "--data-dir", type=Path, default=None,
        help="data directory holding the index (default: $EVENTSEARCH_DATA_DIR or ./data)",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    ingest_options = argparse.ArgumentParser(add_help=False)
    ingest_options.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest_options.add_argument(
        "--rejects", type=Path, default=None,
        help="write rejected records as JSONL here (default: DATA_DIR/rejected.jsonl)")
    ingest_options.add_argument(
        "--processes", type=int, default=None, metavar="N",
        help="NLP worker processes (default: one per core for dumps over 2 MB, else 1)")
    ingest_options.add_argument(
        "--cluster", default=None, metavar="ADDRESS",
        help="run NLP on Dask workers instead: a scheduler's tcp://HOST:8786, or local:N for "
             "N worker processes here (needs the cluster extra: pip install -e '.[cluster]')")
    ingest_options.add_argument(
        "--no-cache", action="store_true",
        help="run NLP on every headline, without the enrichment cache")
    ingest_options.add_argument("--json", action="store_true",
                                help="print the summary as JSON")
    ingest_options.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="show a progress bar (default: when stderr is a terminal)")
    ingest_options.add_argument(
        "--status-file", type=Path, default=None, metavar="FILE",
        help="keep a JSON progress report in FILE (used by the admin jobs API)")

    index = commands.add_parser(
        "index", parents=[data_dir, ingest_options], help="add or update events from dumps",
        description="Read dumps (directory, .tar, .tar.gz, .zip, .gz; Markdown/JSON/XML "
                    "event pages, WikiTimes JSON, NDJSON), enrich every headline with spaCy "
                    "and upsert the events into the live index. Exit 3 if records were "
                    "rejected.",
    )
    index.set_defaults(run=_index)

    reindex = commands.add_parser(
        "reindex", parents=[data_dir, ingest_options], help="rebuild the index from dumps",
        description="Build a complete new index generation from the dumps, verify it, then "
                    "make it live atomically; a running server picks it up without a "
                    "restart. The live index is untouched until the switch, whatever "
                    "happens. Exit 3 if records were rejected.",
    )
    reindex.add_argument("--keep", type=int, default=2, metavar="N",
                         help="generations to keep, the live one included (default 2)")
    reindex.set_defaults(run=_reindex)

    serve = commands.add_parser(
        "serve", parents=[data_dir], help="serve the search page and the HTTP API",
        description="Serve the search page (/), the archive's pages (/news/...) and the JSON "
                    "API (/api/..., documented at /schema). With no index in the data "
                    "directory, first builds one from the bundled sample dump. A damaged or "
                    "missing live generation is replaced by the newest older good one (with "
                    "a warning); if none is good, serve refuses to start (exit 1). With "
                    "--follow URL, a read replica of the server at URL: it copies that "
                    "primary's published generation (every commit, upserts and deletes "
                    "included) with the primary's admin key (EVENTSEARCH_FOLLOW_KEY, or the "
                    "first of EVENTSEARCH_API_KEYS), verifies each copy and swaps it in; "
                    "polls every EVENTSEARCH_FOLLOW_INTERVAL seconds (1); refuses writes "
                    "(405); /ready and /metrics report its lag.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="server processes sharing the port (default 1; one per core "
                            "for throughput)")
    serve.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                       help="log every request (default on)")
    serve.add_argument("--follow", default=None, metavar="URL",
                       help="serve as a read replica of the primary at URL "
                            "(default: $EVENTSEARCH_FOLLOW; unset: a primary)")
    serve.set_defaults(run=_serve)

    search = commands.add_parser(
        "search", parents=[data_dir], help="search from the shell",
        description="Search the index with the same syntax and filters as GET /api/search.",
    )
    search.add_argument("query", metavar="QUERY", help='search-box text ("" browses all)')
    search.add_argument("--country", action="append", default=[], metavar="CC",
                        help="country code or name; repeat to match any")
    search.add_argument("--topic", action="append", default=[], metavar="T",
                        help="topic slug; repeat to match any")
    search.add_argument("--size", type=int, default=10, help="hits to show (default 10)")
    search.add_argument("--json", action="store_true", help="print the full response as JSON")
    search.set_defaults(run=_search)

    stats = commands.add_parser(
        "stats", parents=[data_dir], help="describe the index",
        description="Event count, schema version and the largest facet values.",
    )
    stats.add_argument("--json", action="store_true", help="print as JSON")
    stats.set_defaults(run=_stats)
    return parser


def _data_dir(args) -> Path:
    from service.config import Settings

    return Settings.from_env(args.data_dir).data_dir


def _index(args) -> int:
    from indexer.ingest import ingest

    return _report(ingest(args.paths, _data_dir(args), _ingest_options(args)), args.json)


def _reindex(args) -> int:
    from indexer.ingest import reindex

    options = _ingest_options(args)
    options.keep_generations = args.keep
    return _report(reindex(args.paths, _data_dir(args), options), args.json)


def _ingest_options(args):
    from indexer.ingest import IngestOptions, default_processes

    _check_cluster(args.cluster)
    return IngestOptions(
        nlp=_batch_pipeline(),
        rejects_path=args.rejects,
        processes=args.processes or default_processes(args.paths),
        use_cache=not args.no_cache,
        progress=args.progress,
        status_path=args.status_file,
        cluster=args.cluster,
    )


class UsageError(Exception):
    """Bad arguments found after parsing: exit 2 with one line."""


def _check_cluster(address: str | None) -> None:
    if address is None:
        return
    try:
        from indexer.dask_enrichment import ClusterAddressError, check_address
    except ModuleNotFoundError as error:
        if error.name not in ("dask", "distributed"):
            raise
        raise UsageError("--cluster needs Dask: pip install -e '.[cluster]'") from None

    try:
        check_address(address)
    except ClusterAddressError as error:
        raise UsageError(str(error)) from None


def _batch_pipeline():
    """The NLP pipeline, loaded for a batch job that owns this process.

    The loaded model is hundreds of thousands of Python objects that live as long as the
    process. Frozen, the garbage collector stops walking them every time the events in
    flight push it to a full collection, and a larger first generation collects less often:
    a warm reindex ran 15-30% faster (200k events, 18.7-19.2k -> 23-25k events/s).
    """
    import gc

    from indexer.enrich.pipeline import load_pipeline

    nlp = load_pipeline()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    return nlp


def _report(summary, as_json: bool) -> int:
    print(orjson.dumps(summary.as_dict()).decode() if as_json else summary.describe())
    return EXIT_REJECTED if summary.rejected else 0


def _serve(args) -> int:
    from indexer.index.storage import live_generation
    from service.config import Settings
    from service.search.engine import EventIndex
    from service.server import serve

    if args.follow:  # every server process builds its settings from the environment
        os.environ["EVENTSEARCH_FOLLOW"] = args.follow
    settings = Settings.from_env(args.data_dir)
    if settings.follow_url and live_generation(settings.data_dir) is None:
        from service.replica import copy_first_generation

        print(f"no index in {settings.data_dir}: copying {settings.follow_url}'s generation "
              f"{copy_first_generation(settings)}", file=sys.stderr)
    elif live_generation(settings.data_dir) is None:  # never indexed: not a damaged index
        from indexer.ingest import ingest

        print(f"no index in {settings.data_dir}: building it from the sample dump {SAMPLE_DUMP}",
              file=sys.stderr)
        print(ingest([SAMPLE_DUMP], settings.data_dir).describe(), file=sys.stderr)
    # Refuse to start, with the reason, when no generation passes its checks (IndexUnavailable);
    # a fallback to an older one is logged here and by every server process.
    EventIndex.open(settings.data_dir)
    # Every server process builds the app from the environment.
    os.environ["EVENTSEARCH_DATA_DIR"] = str(settings.data_dir)
    return serve(args.host, args.port, workers=args.workers, access_log=args.access_log)


def _search(args) -> int:
    from service.search.engine import EventIndex
    from service.search.query import search_request

    events = EventIndex.open(_data_dir(args))
    response = events.search(
        search_request(q=args.query, country=args.country, topic=args.topic, size=args.size)
    )
    if args.json:
        print(orjson.dumps(response).decode())
        return 0
    print(f"{response.total} events ({response.took_ms} ms)")
    for hit in response.hits:
        codes = ",".join(c.code for c in hit.countries)
        print(f"{hit.date}  {hit.id}\n    {hit.headline}\n    [{', '.join(hit.topics)}] {codes}")
    return 0


def _stats(args) -> int:
    from service.search.engine import EventIndex
    from service.search.query import SearchRequest

    data_dir = _data_dir(args)
    response = EventIndex.open(data_dir).search(SearchRequest(size=1))
    facets = {
        name: {v.value: v.count for v in getattr(response.facets, name)}
        for name in ("country", "topic", "story", "date")
    }
    if args.json:
        print(orjson.dumps({"events": response.total, "data_dir": str(data_dir),
                            "facets": facets}).decode())
        return 0
    print(f"{response.total} events in {data_dir}")
    for name, counts in facets.items():
        print(f"{name}: " + ", ".join(f"{value} {count}" for value, count in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
