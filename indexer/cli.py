"""`python -m indexer`: build, search, eval, calibrate, stats, bench and policy.

Human output by default, one JSON document with --json. Every input problem ends with one
line naming the file and the reason, exit status 1, and the serving index unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.errors import IndexNotFoundError, PolicyError
from indexer.settings import IndexerSettings

if TYPE_CHECKING:
    from indexer.ranking import Mode

Handler = Callable[[argparse.Namespace, IndexerSettings], int]


def _settings(args: argparse.Namespace) -> IndexerSettings:
    overrides: dict[str, Any] = {}
    if getattr(args, "knowledge", None):
        overrides["knowledge_dir"] = args.knowledge
    if getattr(args, "index", None):
        overrides["index_dir"] = args.index
    return IndexerSettings(**overrides)


def _embedder(settings: IndexerSettings) -> Any:
    from indexer.embedding import embedder_for

    return embedder_for(settings)


def _retriever(settings: IndexerSettings, *, examples: bool = True) -> Any:
    from indexer.ranking import FusionWeights
    from indexer.retriever import Retriever

    return Retriever(
        settings.index_dir,
        _embedder(settings),
        approximate_above=settings.approximate_above,
        weights=None if examples else FusionWeights(example=0.0, hub=0.0),
    )


def add_translation_arguments(parser: argparse.ArgumentParser) -> None:
    """`--translation-of ORIGINAL` or `--original`: what the uploaded document is to the
    shop's other documents (`policy add` here and in `python -m backend`)."""
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument(
        "--translation-of",
        metavar="ORIGINAL",
        help="the document translates this original (its file name or its language)",
    )
    kind.add_argument(
        "--original",
        action="store_true",
        help="the document, a translation until now, becomes an original of its own",
    )


def _emit(args: argparse.Namespace, payload: Any, human: str) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2) if args.json else human)


def cmd_build(args: argparse.Namespace, settings: IndexerSettings) -> int:
    from indexer.alignment import describe
    from indexer.build import build_index

    report = build_index(
        settings, _embedder(settings), show_progress=not args.json, force=not args.if_changed
    )
    m = report.manifest
    if not report.published:
        _emit(
            args,
            {"version": m.version, "published": False},
            f"{m.name} is up to date with the knowledge folder; nothing to publish",
        )
        return 0
    payload = {
        "version": m.version,
        "passages": m.passage_count,
        "sentences": m.sentence_count,
        "embedded": report.embedded,
        "seconds": round(report.seconds, 2),
        "passages_per_second": round(report.passages_per_second, 1),
        "shops": m.shops,
        "model": m.model_id,
        "index_dir": str(settings.index_dir),
        "translations": [alignment.summary() for alignment in report.alignments],
        "examples": report.examples,
        "stale_examples": report.stale_examples,
    }
    human = (
        f"published {m.name}: {m.passage_count} passages ({m.sentence_count} sentences) of "
        f"{len(m.shops)} shops in {report.seconds:.1f} s; embedded {report.embedded} new texts, "
        f"the rest came from the cache; {report.examples} example questions"
    )
    for alignment in report.alignments:
        human += "\n" + "\n".join(describe(alignment))
    for shop, questions in report.stale_examples.items():
        human += (
            f"\n{shop}: {len(questions)} example question(s) left out, their answer is no "
            "longer in the policy: " + "; ".join(repr(q) for q in questions[:5])
        )
    _emit(args, payload, human)
    return 0


def _format_result(result: Any) -> str:
    verdict = "answers" if result.answered else "below the threshold: the policy may not cover it"
    lines = [
        f"[{result.shop_id}] question in {result.language}; confidence {result.confidence:.2f}"
        f" ({verdict}); concepts: {', '.join(result.concepts) or '-'}"
    ]
    for rank, hit in enumerate(result.hits, start=1):
        p = hit.passage
        lines.append(
            f"{rank}. {p.section}  ({p.document_title}, version {p.version}, {p.language})"
        )
        lines.extend("   " + line for line in p.text.splitlines())
    return "\n".join(lines)


def _result_json(result: Any) -> dict[str, Any]:
    return {
        "shop": result.shop_id,
        "language": result.language,
        "confidence": round(result.confidence, 4),
        "answered": result.answered,
        "concepts": result.concepts,
        "index_version": result.index_version,
        "hits": [
            {
                "section": hit.passage.section,
                "text": hit.passage.text,
                "document": hit.passage.document,
                "version": hit.passage.version,
                "language": hit.passage.language,
                "score": round(hit.score, 4),
                "dense": round(hit.dense, 4),
            }
            for hit in result.hits
        ],
    }


def cmd_search(args: argparse.Namespace, settings: IndexerSettings) -> int:
    from indexer.retriever import UnknownShopError

    retriever = _retriever(settings)
    shop = args.shop or (retriever.shop_ids[0] if len(retriever.shop_ids) == 1 else None)
    if args.question:
        if shop is None:
            print(
                "error: --shop is required; shops: " + ", ".join(retriever.shop_ids),
                file=sys.stderr,
            )
            return 2
        try:
            result = retriever.search(args.question, shop, args.k)
        except UnknownShopError:
            print(
                f"error: unknown shop {shop!r}; shops: {', '.join(retriever.shop_ids)}",
                file=sys.stderr,
            )
            return 2
        _emit(args, _result_json(result), _format_result(result))
        return 0
    return _interactive(retriever, shop, args.k)


def _interactive(retriever: Any, shop: str | None, k: int) -> int:
    """A terminal search over the demo corpus: `/shop ID` switches, an empty line quits."""
    from indexer.retriever import UnknownShopError

    print("Ask about a shop's privacy policy. Shops: " + ", ".join(retriever.shop_ids))
    print("Type /shop ID to switch, an empty line to quit.")
    shop = shop or retriever.shop_ids[0]
    while True:
        try:
            line = input(f"[{shop}] > ").strip()
        except EOFError:
            return 0
        if not line:
            return 0
        if line.startswith("/shop"):
            candidate = line.removeprefix("/shop").strip()
            try:
                shop = retriever.resolve_shop(candidate)
            except UnknownShopError:
                print(f"unknown shop {candidate!r}; shops: {', '.join(retriever.shop_ids)}")
            continue
        retriever.refresh()
        print(_format_result(retriever.search(line, shop, k)))


def cmd_eval(args: argparse.Namespace, settings: IndexerSettings) -> int:
    from indexer.evaluation import misses, read_questions, run, summarize
    from indexer.intents import IntentRecogniser

    questions = read_questions(Path(args.file))
    retriever = _retriever(settings, examples=not args.no_examples)
    recogniser = IntentRecogniser(retriever.embedder, trained_dir=retriever.trained_dir)
    modes: list[Mode] = ["bm25", "dense", "rrf", "hybrid"] if args.mode == "all" else [args.mode]
    reports = {}
    for mode in modes:
        outcomes = run(retriever, questions, mode, recogniser if mode == "hybrid" else None)
        reports[mode] = summarize(outcomes, mode)
        if args.misses and mode == modes[-1]:
            reports[mode]["misses"] = misses(outcomes)
    payload = reports[modes[0]] if len(modes) == 1 else reports
    human_lines = []
    for mode, r in reports.items():
        human_lines.append(
            f"{mode:7s} recall@1 {r['recall@1']:.3f}  recall@3 {r['recall@3']:.3f}  "
            f"MRR@10 {r['mrr@10']:.3f}  | same-language recall@3 "
            f"{r['same_language']['recall@3']:.3f}"
            f" (n={r['same_language']['n']})  cross-lingual recall@3 "
            f"{r['cross_lingual']['recall@3']:.3f} (n={r['cross_lingual']['n']})  | "
            f"out-of-scope rejected {r['out_of_scope_rejected']:.3f} (n={r['out_of_scope']})  "
            f"in-scope rejected {r['in_scope_rejected']:.3f}"
        )
        if mode == "hybrid":
            human_lines.append(
                f"        answer@1 {r['answer@1']:.3f} (the reply quotes the answer; "
                f"answered as a question {r['quote@1']:.3f}; the first passage's quote "
                f"alone {r['first_quote@1']:.3f}, a second quoted in "
                f"{r['also_quoted']:.0%} of answers)  | "
                f"uncovered said {r['uncovered_said']:.3f} (n={r['uncovered']}; by the "
                f"practice check {r['uncovered_said_silent']:.3f})  | customer_language@1 "
                f"{r['customer_language@1']['share']:.3f} "
                f"(n={r['customer_language@1']['n']})"
            )
        if r.get("intents"):
            human_lines.append(
                "        intents: "
                + ", ".join(
                    f"{name} {v['accuracy']:.2f} (n={v['n']})" for name, v in r["intents"].items()
                )
            )
        if r.get("requests_acted_or_asked"):
            human_lines.append(
                "        requests acted on or asked about: "
                + ", ".join(
                    f"{name} {v['share']:.2f}" for name, v in r["requests_acted_or_asked"].items()
                )
            )
        for item in r.get("misses", []):
            human_lines.append(
                f"   miss {item['id']} ({item['why']}): rank {item['rank']}, confidence "
                f"{item['confidence']}, practice {item['practice'][0]} "
                f"{item['practice'][1]:.2f} covered {item['covered']}: {item['question']}"
                f"\n        quote: {item['quote'][:300]}"
            )
    _emit(args, payload, "\n".join(human_lines))
    return 0


def cmd_calibrate(args: argparse.Namespace, settings: IndexerSettings) -> int:
    import numpy as np

    from indexer.confidence import fit_calibration
    from indexer.evaluation import read_questions, run

    questions = read_questions(Path(args.file))
    outcomes = run(_retriever(settings), questions)
    # In scope means the top three hold a gold passage; out of scope is labelled as such.
    rows = [o for o in outcomes if o.question.out_of_scope or (o.rank is not None and o.rank <= 3)]
    features = np.array([o.result.features for o in rows])
    labels = np.array([0.0 if o.question.out_of_scope else 1.0 for o in rows])
    calibration = fit_calibration(features, labels)
    out = Path(args.out) if args.out else Path(__file__).parent / "data" / "calibration.json"
    calibration.save(out)
    _emit(
        args,
        {"calibration": calibration.__dict__, "file": str(out), "n": len(rows)},
        f"wrote {out} from {len(rows)} questions: {calibration}",
    )
    return 0


def _training_cache(settings: IndexerSettings) -> Path:
    # Beside the index: the training texts are embedded once per model, then read back.
    return settings.index_dir.parent / "training-cache.sqlite3"


def cmd_train_intents(args: argparse.Namespace, settings: IndexerSettings) -> int:
    from indexer.intents import MODEL_FILE
    from indexer.training import train_intent_model

    report: dict[str, Any] = {}
    model = train_intent_model(_embedder(settings), _training_cache(settings), report)
    out = Path(args.out) if args.out else Path(__file__).parent / MODEL_FILE
    model.save(out)
    report["file"] = str(out)
    _emit(args, report, json.dumps(report, ensure_ascii=False, indent=1))
    return 0


def cmd_train_topics(args: argparse.Namespace, settings: IndexerSettings) -> int:
    from indexer.topics import PASSAGE_MODEL_FILE, QUESTION_MODEL_FILE
    from indexer.training import train_passage_topics, train_question_topics

    embedder = _embedder(settings)
    cache = _training_cache(settings)
    questions: dict[str, Any] = {}
    passages: dict[str, Any] = {}
    folder = Path(args.out) if args.out else Path(__file__).parent
    train_question_topics(embedder, cache, questions).save(folder / QUESTION_MODEL_FILE)
    train_passage_topics(embedder, cache, passages, settings.knowledge_dir).save(
        folder / PASSAGE_MODEL_FILE
    )
    report = {"questions": questions, "passages": passages, "folder": str(folder)}
    _emit(args, report, json.dumps(report, ensure_ascii=False, indent=1))
    return 0


def cmd_coverage_eval(args: argparse.Namespace, settings: IndexerSettings) -> int:
    from indexer.coverage_eval import (
        describe_report,
        describe_unseen,
        evaluate_coverage,
        evaluate_unseen_policies,
    )

    if args.policies:
        try:
            unseen = evaluate_unseen_policies(_embedder(settings), Path(args.policies))
        except (OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        _emit(args, unseen, describe_unseen(unseen))
        return 0
    report = evaluate_coverage(
        _embedder(settings), settings.knowledge_dir, _training_cache(settings)
    )
    _emit(args, report, describe_report(report))
    return 0


def cmd_language_eval(args: argparse.Namespace, settings: IndexerSettings) -> int:
    from indexer.language_eval import describe_languages, evaluate_languages

    report = evaluate_languages(Path(file) for file in args.files)
    _emit(args, report, describe_languages(report))
    return 0


def cmd_gist_eval(args: argparse.Namespace, settings: IndexerSettings) -> int:
    from indexer.gist_eval import describe_gist, evaluate_gist

    report = evaluate_gist(_embedder(settings), settings.knowledge_dir, _training_cache(settings))
    _emit(args, report, describe_gist(report))
    return 0


def cmd_stats(args: argparse.Namespace, settings: IndexerSettings) -> int:
    from collections import Counter

    from indexer.build import EXAMPLES_FILE, PASSAGES_FILE, read_passages
    from indexer.examples import load_examples
    from indexer.publish import Manifest, current_version_dir, published_versions

    folder = current_version_dir(settings.index_dir)
    manifest = Manifest.read(folder)
    passages = read_passages(folder / PASSAGES_FILE)
    examples = Counter(example.shop_id for example in load_examples(folder / EXAMPLES_FILE))
    languages: dict[str, Counter[str]] = {}
    for passage in passages:
        languages.setdefault(passage.shop_id, Counter())[passage.language] += 1
    payload: dict[str, Any] = {
        "version": manifest.version,
        "created_at": manifest.created_at,
        "model": manifest.model_id,
        "dimension": manifest.dimension,
        "passages": manifest.passage_count,
        "sentences": manifest.sentence_count,
        "corpus_hash": manifest.corpus_hash,
        "published_versions": published_versions(settings.index_dir),
        "shops": {
            shop: {
                "passages": count,
                "languages": dict(languages.get(shop, {})),
                "examples": examples.get(shop, 0),
            }
            for shop, count in manifest.shops.items()
        },
    }
    human = [
        f"serving {manifest.name} ({manifest.created_at}), model {manifest.model_id} "
        f"({manifest.dimension}-d), {manifest.passage_count} passages"
    ]
    for shop, info in payload["shops"].items():
        langs = ", ".join(f"{k} {v}" for k, v in info["languages"].items())
        human.append(
            f"  {shop:14s} {info['passages']:4d} passages  ({langs}), "
            f"{info['examples']} example questions"
        )
    _emit(args, payload, "\n".join(human))
    return 0


def cmd_bench(args: argparse.Namespace, settings: IndexerSettings) -> int:
    from indexer.bench import run_bench

    sizes = [int(size) for size in args.sizes.split(",")]
    report = run_bench(settings, sizes=sizes, queries=args.queries, build=not args.no_build)
    human = report.pop("_human", "")
    _emit(args, report, human)
    return 0


def cmd_policy(args: argparse.Namespace, settings: IndexerSettings) -> int:
    """A new policy version, or back to the previous one, in the folders alone: nothing is
    recorded and nobody is told (`python -m backend policy` does both); running
    assistants find the new version by polling."""
    from indexer.policy_update import (
        NothingToRollBackError,
        ShopNotFoundError,
        add_policy,
        rollback_policy,
    )

    try:
        if args.action == "add":
            path = Path(args.file)
            if not path.is_file():
                raise PolicyError(path, "file not found")
            update = add_policy(
                settings,
                _embedder(settings),
                args.shop,
                args.language,
                path.name,
                path.read_bytes(),
                version=args.version,
                translation_of=args.translation_of,
                original=args.original,
            )
        else:
            update = rollback_policy(settings, _embedder(settings), args.shop)
    except ShopNotFoundError:
        print(f"error: unknown shop {args.shop!r}", file=sys.stderr)
        return 1
    except NothingToRollBackError:
        print(f"error: {args.shop} has no upload left to roll back", file=sys.stderr)
        return 1
    _emit(args, update.report(), "\n".join(update.describe()))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m indexer", description=__doc__)
    root.add_argument("--knowledge", help="knowledge folder (default: INDEXER_KNOWLEDGE_DIR)")
    root.add_argument("--index", help="index folder (default: INDEXER_INDEX_DIR)")
    commands = root.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--json", action="store_true", help="one JSON document on stdout")
        sub.set_defaults(handler=handler)
        return sub

    build = add("build", cmd_build, "build and publish the index from the knowledge folder")
    build.add_argument(
        "--if-changed", action="store_true", help="publish only when the corpus changed"
    )
    search = add("search", cmd_search, "search one shop's policy (interactive without a question)")
    search.add_argument("question", nargs="?")
    search.add_argument("--shop", help="shop id or alias")
    search.add_argument("-k", type=int, default=3)
    evaluate = add("eval", cmd_eval, "recall, MRR and out-of-scope rejection on a question file")
    evaluate.add_argument("file")
    evaluate.add_argument(
        "--mode", default="hybrid", choices=["hybrid", "dense", "bm25", "rrf", "all"]
    )
    evaluate.add_argument("--misses", action="store_true", help="list the questions it got wrong")
    evaluate.add_argument(
        "--no-examples",
        action="store_true",
        help="ignore the shops' example questions (what a shop without any gets)",
    )
    calibrate = add("calibrate", cmd_calibrate, "fit the confidence score on a question file")
    calibrate.add_argument("file")
    calibrate.add_argument("--out", help="where to write (default: the packaged calibration.json)")
    add("stats", cmd_stats, "what the serving index holds")
    add("gist-eval", cmd_gist_eval, "the gist line's topic against the labelled passages")
    language_eval = add(
        "language-eval", cmd_language_eval, "the language detected per message, by style"
    )
    language_eval.add_argument("files", nargs="+")
    coverage_eval = add(
        "coverage-eval",
        cmd_coverage_eval,
        'precision and recall of the glance card\'s "covered" per demo policy, leaving each out',
    )
    coverage_eval.add_argument(
        "--policies",
        help="instead: the committed labeller on hand-labelled policies it never saw (JSONL)",
    )
    train_intents = add(
        "train-intents", cmd_train_intents, "train the intent classifier on data/training/intents"
    )
    train_intents.add_argument("--out", help="where to write (default: the packaged model)")
    train_topics = add(
        "train-topics", cmd_train_topics, "train the question and passage practice labellers"
    )
    train_topics.add_argument(
        "--out", help="folder that gets data/models/ (default: the indexer package)"
    )
    bench = add(
        "bench", cmd_bench, "query latency at 1k/10k/100k passages, build throughput, memory"
    )
    bench.add_argument("--sizes", default="1000,10000,100000")
    bench.add_argument("--queries", type=int, default=200)
    bench.add_argument("--no-build", action="store_true", help="skip the build-throughput part")
    policy = commands.add_parser(
        "policy", help="publish a new policy file for a shop, or roll the latest back"
    )
    policy_actions = policy.add_subparsers(dest="action", required=True)
    policy_add = policy_actions.add_parser("add", help="check, index and publish FILE")
    policy_add.add_argument("--language", required=True, help="ISO 639-1 code of the text")
    policy_add.add_argument("--version", help="the version customers see (default: today)")
    add_translation_arguments(policy_add)
    policy_add.add_argument("file", help=".md, .txt, .html or .pdf")
    policy_rollback = policy_actions.add_parser(
        "rollback", help="restore the version before the latest upload"
    )
    for sub in (policy_add, policy_rollback):
        sub.add_argument("--shop", required=True)
        sub.add_argument("--json", action="store_true", help="one JSON document on stdout")
        sub.set_defaults(handler=cmd_policy)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = _settings(args)
        handler: Handler = args.handler
        return handler(args, settings)
    except PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except IndexNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
