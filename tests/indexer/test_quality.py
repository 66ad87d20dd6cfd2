"""The quality bar of issue 2 on the project's labelled question set.

Not a timing test: it checks what the eval command reports, so that a change that makes
retrieval worse fails here rather than in front of a customer.
"""

from __future__ import annotations

from indexer.evaluation import read_questions, run, summarize
from indexer.retriever import Retriever
from indexer.settings import PROJECT_ROOT

QUESTIONS = PROJECT_ROOT / "tests" / "eval" / "questions.jsonl"


def test_question_set_is_well_formed() -> None:
    questions = read_questions(QUESTIONS)
    assert len(questions) >= 80
    assert sum(q.intent == "out_of_scope" for q in questions) >= 8
    assert {q.lang for q in questions} >= {"en", "cs", "uk", "ru", "sv", "de", "pl"}


def test_every_gold_string_is_found_in_its_policy(corpus_retriever: Retriever) -> None:
    """Gold strings are copied from the raw files; after normalisation each must still be
    inside one of that shop's passages, or the eval would count impossible questions."""
    from indexer.normalize import fold_for_match, normalize_text

    eval_dir = PROJECT_ROOT / "tests" / "eval"
    files = [
        QUESTIONS,
        eval_dir / "holdout.jsonl",
        eval_dir / "unseen" / "questions.jsonl",
        eval_dir / "unseen2" / "questions.jsonl",
        eval_dir / "unseen3" / "questions.jsonl",
        PROJECT_ROOT / "indexer" / "data" / "training" / "ranking.jsonl",
    ]
    for question in (q for file in files for q in read_questions(file)):
        shop = corpus_retriever.resolve_shop(question.shop)
        passages = [fold_for_match(p.text) for p in corpus_retriever._state.shops[shop].passages]
        for gold in question.gold:
            target = fold_for_match(normalize_text(gold))
            assert any(target in passage for passage in passages), (question.id, gold)


def test_hybrid_meets_the_quality_bar(corpus_retriever: Retriever) -> None:
    report = summarize(run(corpus_retriever, read_questions(QUESTIONS)))
    assert report["recall@3"] >= 0.95, report
    assert report["cross_lingual"]["recall@3"] >= 0.90, report
    assert report["mrr@10"] >= 0.85, report
    assert report["out_of_scope_rejected"] >= 0.8, report
    # Measured 0.056: the practice check (issue 11) silences about 0.03 of these questions
    # whose practice it misreads, the price of catching 0.95 of the uncovered ones.
    assert report["in_scope_rejected"] <= 0.07, report
    assert report["answer@1"] >= 0.78, report  # measured 0.822
    for key in ("recall@1", "same_language", "by_lang"):
        assert key in report


def test_questions_the_policy_does_not_answer_are_called_uncovered(
    corpus_retriever: Retriever,
) -> None:
    questions = read_questions(PROJECT_ROOT / "tests" / "eval" / "uncovered.jsonl")
    assert len(questions) >= 40
    assert {q.lang for q in questions} >= {"en", "cs", "uk", "ru", "sv", "de", "pl"}
    report = summarize(run(corpus_retriever, questions))
    assert report["uncovered_said"] >= 0.9, report  # measured 0.95


def test_hybrid_beats_each_signal_alone(corpus_retriever: Retriever) -> None:
    questions = read_questions(QUESTIONS)
    hybrid = summarize(run(corpus_retriever, questions, "hybrid"))
    for mode in ("dense", "bm25", "rrf"):
        alone = summarize(run(corpus_retriever, questions, mode))
        assert hybrid["recall@3"] > alone["recall@3"], mode
        assert hybrid["mrr@10"] > alone["mrr@10"], mode
