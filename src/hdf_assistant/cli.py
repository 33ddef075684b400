"""Command line: ``hdf-assistant [--corpus DIR] [--index-dir DIR] {index,ask,serve}``.

``main(argv)`` returns the exit code. Errors become one clear line on stderr
and a non-zero exit here, nowhere deeper.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hdf_assistant.config import Settings, load_settings
from hdf_assistant.errors import HdfError, QuestionError
from hdf_assistant.schema import MODES, RETRIEVERS, Answer, IndexReport

EXIT_ERROR = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hdf-assistant",
        description="Assistant documentaire hors ligne : questions sur les documents du corpus, "
        "réponses citées (fichier, page, passage).",
    )
    parser.add_argument("--corpus", type=Path, help="corpus directory (default: corpus/, env HDF_CORPUS_DIR)")
    parser.add_argument("--index-dir", type=Path, help="index directory (default: index/, env HDF_INDEX_DIR)")
    parser.add_argument("--config", type=Path, help="settings file (default: hdf-assistant.toml if present)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    p_index = sub.add_parser("index", help="build or refresh the index")
    p_index.add_argument("--full", action="store_true", help="rebuild everything from scratch")
    p_index.add_argument("--json", action="store_true", help="print one JSON object")
    p_index.add_argument("--distribute", action="store_true",
                         help="postgres store: read and embed the files on 'hdf-assistant worker' processes")
    p_index.add_argument("--watch", action="store_true",
                         help="keep running and refresh shortly after corpus files change (Ctrl-C stops)")

    p_ask = sub.add_parser("ask", help="ask one question")
    p_ask.add_argument("question")
    p_ask.add_argument("--history", action="append", default=[], metavar="TURN",
                       help="an earlier user turn (repeat, oldest first)")
    p_ask.add_argument("--top-k", type=int, help="number of passages to retrieve")
    p_ask.add_argument("--retriever", choices=RETRIEVERS, help="dense, bm25 or hybrid (default: hybrid)")
    p_ask.add_argument("--mode", choices=MODES, help="extractive (default), quote or llm")
    p_ask.add_argument("--json", action="store_true", help="print one JSON object")
    _access_arguments(p_ask)

    p_eval = sub.add_parser("eval", help="answer a file of questions and measure the answers")
    p_eval.add_argument("file", type=Path, help=".jsonl, .csv or SQuAD-format .json")
    p_eval.add_argument("--out", type=Path, help="write one JSON object per question (JSONL)")
    p_eval.add_argument("--report", type=Path, help="write a Markdown report (and a PNG chart beside it)")
    p_eval.add_argument("--json", action="store_true", help="print the summary as JSON")
    p_eval.add_argument("--top-k", type=int, help="number of passages cited per answer")
    p_eval.add_argument("--retriever", choices=RETRIEVERS, help="dense, bm25 or hybrid (default: hybrid)")
    p_eval.add_argument("--mode", choices=MODES, help="extractive (default), quote or llm")
    p_eval.add_argument("--squad-corpus", type=Path, metavar="SQUAD_JSON",
                        help="answer a .jsonl/.csv file over the articles of a SQuAD file instead of the corpus")
    p_eval.add_argument("--compare", type=Path, metavar="OLD_RESULTS", help="an earlier --out file to compare with")
    _access_arguments(p_eval)

    p_db = sub.add_parser("db", help="a local PostgreSQL server for store = postgres (the postgres extra)")
    p_db.add_argument("action", choices=("start", "stop"))
    p_db.add_argument("--data", type=Path, help="data directory (default: ~/.local/share/hdf-assistant/postgres)")

    sub.add_parser("worker", help="read and embed files for 'index --distribute' (postgres store), until stopped")

    p_serve = sub.add_parser("serve", help="start the chat in the browser")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=7860)
    p_serve.add_argument("--watch", action="store_true", help="refresh the index when corpus files change")
    p_serve.add_argument("--workers", type=int, default=1,
                         help="web worker processes (each loads the model and follows the index's refreshes)")
    return parser


def _access_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collection", action="append", metavar="NAME",
                        help="search this collection only (a first-level folder of the corpus; repeatable)")
    parser.add_argument("--as", dest="as_user", metavar="USER", default=None,
                        help="with the rights of USER (a login, or key:NAME) under HDF_ACCESS")


def _guarded(assistant: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    """(the guard, the scope) of ``--as`` and ``--collection``. Without ``--as``, the command has the rights
    of the person running it, who reads the corpus's files anyway: every collection."""
    from hdf_assistant.access import Filters, Guard

    guard = Guard(assistant)
    filters = Filters.of(collections=args.collection)
    return guard, guard.scope(args.as_user, filters) if args.as_user is not None else guard.scope_all(filters)


def _settings(args: argparse.Namespace) -> Settings:
    progress = sys.stderr.isatty() and not getattr(args, "json", False)
    return load_settings(
        args.config,
        corpus_dir=args.corpus,
        index_dir=args.index_dir,
        progress=progress,
        retriever=getattr(args, "retriever", None),
        answer_mode=getattr(args, "mode", None),
    )


def _print_report(report: IndexReport) -> None:
    print(f"{report.documents} documents, {report.chunks} passages indexés en {report.seconds:.1f} s")
    for label, names in (("ajoutés", report.added), ("modifiés", report.updated),
                         ("retirés", report.removed), ("inchangés", report.unchanged)):
        if names:
            print(f"  {label} ({len(names)}) : {', '.join(names)}")
    for move in report.renamed:
        print(f"  renommé : {move['from']} -> {move['to']} (non ré-encodé)")
    for skipped in report.skipped:
        print(f"  ignoré : {skipped.file} ({skipped.reason})")
    if report.embedded_chunks or report.embedded_documents:
        print(f"  encodés : {report.embedded_chunks} passages, {report.embedded_documents} vecteurs de document")


def _print_answer(answer: Answer) -> None:
    print(answer.text)
    if answer.citations:
        print()
        print("Sources :")
        for c in answer.citations:
            where = c.where
            snippet = " ".join(c.text.split())
            if len(snippet) > 160:
                snippet = snippet[:157] + "..."
            print(f"  [{c.n}] {where} (score {c.score:.3f}) : {snippet}")


def _cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from hdf_assistant.assistant import build_embedder, refresh_index
    from hdf_assistant.models.embedders import Embedder

    embedders: list[Embedder] = []

    def model() -> Embedder:
        """The model, loaded the first time something must be embedded."""
        if not embedders:
            embedders.append(build_embedder(settings))
        return embedders[0]

    def run(full: bool) -> None:
        if args.distribute:
            from hdf_assistant.assistant import refresh_index_distributed

            report = refresh_index_distributed(settings, progress=settings.progress, full=full)
        else:
            report = refresh_index(settings, model, full=full, progress=settings.progress)
        if args.json:
            print(json.dumps(report.to_dict(), ensure_ascii=False), flush=True)
        else:
            _print_report(report)

    run(args.full)
    if args.watch:
        import threading

        from hdf_assistant.ingest.watch import watch_corpus

        print(f"Surveillance de {settings.corpus_dir} (Ctrl-C pour arrêter)…", file=sys.stderr, flush=True)
        watch_corpus(settings.corpus_dir, lambda: run(False), threading.Event())
    return 0


def _cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from hdf_assistant.assistant import build_assistant, open_backend
    from hdf_assistant.ingest.textclean import clean_question

    if not clean_question(args.question)[0]:
        raise QuestionError("la question est vide : posez une question / the question is empty")
    if open_backend(settings).live_version() is None:
        print(f"Aucun index dans {settings.index_dir} : construction de l'index d'abord...", file=sys.stderr)
    assistant = build_assistant(settings, progress=settings.progress)
    guard, scope = _guarded(assistant, args)
    drafted = False
    answer: Answer | None = None
    for piece in assistant.stream(args.question, history=args.history, top_k=args.top_k, scope=scope):
        if isinstance(piece, Answer):
            answer = piece
        elif not args.json:  # an llm draft, shown as it comes; the checked answer follows on stdout
            print(piece, end="", file=sys.stderr, flush=True)
            drafted = True
    assert answer is not None
    guard.audit.record(args.as_user or "cli", "cli", scope, answer)
    if drafted:
        print(file=sys.stderr)
    for warning in answer.warnings:
        print(f"hdf-assistant: attention : {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        _print_answer(answer)
    return 0


def _cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from hdf_assistant.assistant import build_assistant, build_embedder, refresh_index
    from hdf_assistant.evaluate.questions import load_question_set
    from hdf_assistant.evaluate.run import (
        compare_table,
        compare_with,
        run_eval,
        squad_workspace,
        summary_table,
        write_report,
    )

    questions = load_question_set(args.file)
    for error in questions.errors:
        where = f"line {error.line}" if error.line else "entry"
        print(f"{args.file}: {where}: {error.message} (skipped)", file=sys.stderr)
    if not questions.questions:
        raise HdfError(f"{args.file}: no usable question")
    if args.compare is not None and not args.compare.is_file():
        raise HdfError(f"results file to compare with not found: {args.compare}")
    embedder = build_embedder(settings)
    squad_file = args.file if questions.kind == "squad" else args.squad_corpus
    if squad_file is not None:
        articles = questions if questions.kind == "squad" else load_question_set(squad_file)
        if articles.kind != "squad":
            raise HdfError(f"{squad_file} is not a SQuAD file")
        settings = squad_workspace(settings, squad_file, articles)
        report = refresh_index(settings, lambda: embedder, progress=settings.progress)
        print(f"SQuAD corpus: {report.documents} articles, {report.chunks} passages "
              f"({len(report.added) + len(report.updated)} embedded) in {settings.corpus_dir.parent}",
              file=sys.stderr)
    assistant = build_assistant(settings, progress=settings.progress, embedder=embedder)
    out = args.out.open("w", encoding="utf-8") if args.out else None
    try:
        def write_row(row: dict) -> None:
            if out is not None:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()

        _, scope = _guarded(assistant, args)
        run = run_eval(assistant, questions, top_k=args.top_k, progress=settings.progress, on_row=write_row,
                       scope=scope)
    finally:
        if out is not None:
            out.close()
    comparison = compare_with(run, args.compare) if args.compare else None
    if args.report:
        chart = write_report(run, args.report, args.file, comparison)
        print(f"report: {args.report} (chart: {chart})", file=sys.stderr)
    if args.json:
        payload = {**run.summary, "config": run.config}
        if comparison is not None:
            payload["compare"] = comparison
        print(json.dumps(payload, ensure_ascii=False))
    else:
        print(summary_table(run.summary))
        if comparison is not None:
            print()
            print(compare_table(comparison))
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from hdf_assistant.assistant import build_assistant
    from hdf_assistant.web.metrics import configure_logging
    from hdf_assistant.web.server import launch

    configure_logging(settings.log_format, args.verbose)
    if args.workers > 1:
        return _serve_workers(args, settings)
    assistant = build_assistant(settings, progress=settings.progress)
    if args.watch:
        from hdf_assistant.ingest.watch import start_watching

        def refresh() -> None:
            assistant.reindex()

        start_watching(settings.corpus_dir, refresh)
    print(f"hdf-assistant: http://{args.host}:{args.port}", flush=True)
    launch(assistant, host=args.host, port=args.port)
    return 0


def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """``serve --workers N``: uvicorn's worker processes, each building its app from the environment
    (``web.server.app_from_environment``); the index is built here first when there is none."""
    import os
    import tempfile

    import uvicorn

    from hdf_assistant.assistant import build_embedder, open_backend, refresh_index

    if args.watch:
        raise HdfError("--watch runs in one process: serve with --workers 1, or refresh with 'hdf-assistant index'")
    if open_backend(settings).live_version() is None:
        print("Aucun index : construction de l'index d'abord...", file=sys.stderr)
        refresh_index(settings, lambda: build_embedder(settings), progress=settings.progress)
    # the workers read the same settings: the command line's options travel as their variables
    for name, value in (("HDF_CORPUS_DIR", args.corpus), ("HDF_INDEX_DIR", args.index_dir),
                        ("HDF_CONFIG", args.config)):
        if value is not None:
            os.environ[name] = str(Path(value).resolve())
    # their metrics are added up from files in one directory (prometheus-client's multi-process mode)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="hdf-metrics-"))
    print(f"hdf-assistant: http://{args.host}:{args.port} ({args.workers} workers)", flush=True)
    uvicorn.run("hdf_assistant.web.server:app_from_environment", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning")
    return 0


def _cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from hdf_assistant.index import postgres_server as db_server

    data = args.data or db_server.default_data_dir()
    if args.action == "stop":
        stopped = db_server.stop(data)
        print(f"PostgreSQL de {data} arrêté." if stopped else f"Aucun serveur PostgreSQL en marche dans {data}.")
        return 0
    url = db_server.start(data)
    print(f"PostgreSQL (pgvector) en marche, données dans {data} ; pour l'utiliser :", file=sys.stderr)
    print(f"export HDF_STORE=postgres HDF_DATABASE_URL='{url}'")
    return 0


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from hdf_assistant.assistant import run_index_worker

    print(f"hdf-assistant worker: index '{settings.index_name}', corpus {settings.corpus_dir.resolve()}",
          file=sys.stderr, flush=True)
    run_index_worker(settings)
    return 0


_COMMANDS = {"worker": _cmd_worker, "index": _cmd_index, "ask": _cmd_ask, "eval": _cmd_eval, "serve": _cmd_serve, "db": _cmd_db}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s %(message)s",
    )
    try:
        settings = _settings(args)
        return _COMMANDS[args.command](args, settings)
    except QuestionError as exc:
        print(f"hdf-assistant: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HdfError as exc:
        print(f"hdf-assistant: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hdf-assistant: interrompu", file=sys.stderr)
        return 130
