"""Issue 11's parts below the bot: the training sets, the linear models, practice labels in
the index, honest silence, quotes that hold the answer, and the eval's new figures."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from indexer.evaluation import EvalQuestion, quote_holds_answer, read_questions, run, summarize
from indexer.glossary import default_glossary
from indexer.intents import LABELS, RIGHT_QUESTIONS, Intent
from indexer.linear_model import LinearModel, fit, fit_temperature, folds, out_of_fold
from indexer.passages import Passage
from indexer.quotes import choose_quote
from indexer.retriever import ALSO_WITHIN, ON_TOPIC_FLOOR, Hit, Retriever, SearchResult
from indexer.settings import PROJECT_ROOT
from indexer.topics import NONE, AskedPractice, practice_ids
from indexer.training import (
    gold_topics,
    per_label_scores,
    question_topic_examples,
    read_intent_examples,
    synthetic_passages,
)

LANGUAGES = {"en", "cs", "uk", "sv", "ru", "de", "pl"}


def test_the_intent_training_set_covers_every_intent_in_every_language() -> None:
    examples = read_intent_examples()
    counts = Counter((e.lang, e.intent) for e in examples)
    for lang in LANGUAGES:
        for intent in LABELS:
            assert counts[(lang, intent)] >= 40, (lang, intent, counts[(lang, intent)])
    styles = {e.style for e in examples if e.intent in {"unsubscribe", "access", "deletion"}}
    assert styles >= {"direct", "indirect", "typo", "no_diacritics", "translit", "slang"}
    assert styles >= {"mixed", "short", "long"}


def test_every_practice_has_training_questions_and_passages() -> None:
    asked = Counter(topic for _, topic in question_topic_examples())
    passages = Counter(t for p in synthetic_passages() for t in p.topics)
    for practice in practice_ids():
        assert asked[practice] >= 20, practice
        assert passages[practice] >= 10, practice
    assert asked[NONE] >= 50


def test_training_is_deterministic_and_models_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(120, 5))
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    first = fit(x, y, ("a", "b", "c"), "softmax", steps=100)
    second = fit(x, y, ("a", "b", "c"), "softmax", steps=100)
    assert np.array_equal(first.weights, second.weights)
    logits = out_of_fold(x, y, ("a", "b", "c"), "softmax", folds(120, 4))
    temperature = fit_temperature(logits, y)
    assert 0.3 <= temperature <= 4.0
    path = tmp_path / "model.npz"
    first.save(path)
    loaded = LinearModel.load(path)
    assert loaded.classes == ("a", "b", "c")
    assert np.allclose(loaded.probabilities(x[:3]), first.probabilities(x[:3]))
    assert np.allclose(first.probabilities(x[:3]).sum(axis=1), 1.0)


def test_a_model_trained_for_another_embedder_is_kept_for_the_next_start(tmp_path: Path) -> None:
    from dataclasses import replace

    from indexer.linear_model import LazyModel, committed_model

    class OtherEmbedder:
        model_id = "another-model"

    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] > 0).astype(int)
    trained: list[str] = []

    def train(embedder: OtherEmbedder) -> LinearModel:
        trained.append(embedder.model_id)
        model = fit(x, y, ("a", "b"), "softmax", steps=50)
        return replace(model, meta={"model_id": embedder.model_id})

    folder = tmp_path / "trained-models"
    first = LazyModel(OtherEmbedder(), "data/models/intents.npz", train, trained_dir=folder)
    assert first.get().meta["model_id"] == "another-model" and trained == ["another-model"]
    path = first.trained_path()
    assert path is not None and path.is_file()
    assert not list(folder.glob("*.tmp"))  # written beside, then renamed
    # A restart, or a second replica: loaded, not trained again.
    again = LazyModel(OtherEmbedder(), "data/models/intents.npz", train, trained_dir=folder)
    assert np.allclose(again.get().probabilities(x[:3]), first.get().probabilities(x[:3]))
    assert trained == ["another-model"]
    # Another model name is another file; a file cut short is trained anew and replaced.
    other = LazyModel(OtherEmbedder(), "data/models/question_topics.npz", train, trained_dir=folder)
    assert other.trained_path() != path
    path.write_bytes(path.read_bytes()[:40])
    broken = LazyModel(OtherEmbedder(), "data/models/intents.npz", train, trained_dir=folder)
    assert broken.get().classes == ("a", "b") and len(trained) == 2
    assert LinearModel.load(path).classes == ("a", "b")
    # The committed weights serve the embedder they were trained on: nothing is trained
    # or written.
    shipped = committed_model("data/models/intents.npz")
    assert shipped is not None

    class BundledEmbedder:
        model_id = shipped.meta["model_id"]

    unused = tmp_path / "unused"
    bundled = LazyModel(BundledEmbedder(), "data/models/intents.npz", train, trained_dir=unused)
    assert bundled.get().classes == shipped.classes
    assert len(trained) == 2 and not unused.exists()


def test_per_label_scores() -> None:
    scores = per_label_scores([["a"], ["b"], ["a", "b"]], [["a"], ["a"], ["b"]], ["a", "b"])
    assert scores["a"] == {"precision": 0.5, "recall": 0.5, "n": 2}
    assert scores["b"] == {"precision": 1.0, "recall": 0.5, "n": 2}


def test_gold_topics_of_a_passage_come_from_the_snippets_it_holds() -> None:
    labels = [("keep data for 5 years", ("retention",)), ("Cookies help", ("cookies",))]
    assert gold_topics("Intro. We keep data for 5 years. Cookies help us.", labels) == (
        "cookies",
        "retention",
    )
    assert gold_topics("Nothing labelled here.", labels) is None


def test_a_quote_keeps_a_list_item_with_its_lead_in() -> None:
    sentences = [
        "We care about your privacy.",
        "For technical reasons we use cookies to:",
        "• 1. Keep you logged in.",
        "• 2. Remember your cart between visits.",
        "• 3. Talk to the payment processor.",
        "Nothing else is stored.",
    ]
    evidence = np.array([0.1, 0.2, 0.3, 0.9, 0.2, 0.1])
    assert choose_quote(sentences, evidence, limit=2) == [1, 3]
    # A lead-in that wins takes its best item with it.
    evidence = np.array([0.1, 0.9, 0.2, 0.5, 0.3, 0.1])
    assert choose_quote(sentences, evidence, limit=2) == [1, 3]
    # A fragment takes its neighbour; a short passage is quoted whole.
    fragment = ["Our policy explains a lot.", "In short:", "Data is kept 5 years.", "Bye for now."]
    assert choose_quote(fragment, np.array([0.1, 0.2, 0.1, 0.0]), limit=1) == [1, 2]
    assert choose_quote(sentences[:3], np.array([0.1, 0.2, 0.3]), limit=2) == [0, 1, 2]


def test_passages_carry_practices_and_shops_their_coverage(corpus_retriever: Retriever) -> None:
    shops = corpus_retriever._state.shops
    webstore = shops["webstore"]
    assert webstore.covered is not None and "retention" in webstore.covered
    retention = [p for p in webstore.passages if "retention" in p.topics]
    assert any("5 years" in p.text for p in retention)
    kivi = shops["kivismart"]
    assert kivi.covered is not None and "retention" not in kivi.covered
    assert "cookies" in kivi.covered


def test_silence_is_said_where_the_policy_is_silent_only(corpus_retriever: Retriever) -> None:
    silent = corpus_retriever.search("How long do you keep my address?", "kivismart")
    assert silent.silent and not silent.answered
    assert silent.practice.practice == "retention"
    answered = corpus_retriever.search("How long do you keep my address?", "webstore")
    assert answered.answered and not answered.silent


def _lukewarm(on_topic: bool, confidence: float, silence: float = 0.0) -> SearchResult:
    passage = Passage("shop", "policy.txt", "Policy", "v1", "Security", "We use SSL.", 0, "en")
    hit = Hit(passage, 0, 1.0, 0.8, 0.0, 0.0)
    return SearchResult(
        "SSL?", "shop", "ru", [], [hit], confidence, 0.74, 1, silence=silence, on_topic=on_topic
    )


def test_a_lukewarm_answer_stands_when_the_practice_and_the_passage_agree() -> None:
    assert not _lukewarm(on_topic=False, confidence=0.6).answered
    assert _lukewarm(on_topic=True, confidence=0.6).answered
    assert _lukewarm(on_topic=True, confidence=0.9).answered
    # Below the floor, or where the policy is silent, agreement does not make an answer.
    assert not _lukewarm(on_topic=True, confidence=ON_TOPIC_FLOOR - 0.01).answered
    assert not _lukewarm(on_topic=True, confidence=0.9, silence=0.99).answered


def test_a_question_as_close_as_an_example_is_answered_unless_the_policy_is_silent() -> None:
    from indexer.examples import EXAMPLE_NOT_SILENT, EXAMPLE_SURE

    low = _lukewarm(on_topic=False, confidence=0.1)
    assert not low.answered
    assert replace(low, example=EXAMPLE_SURE).answered
    assert not replace(low, example=EXAMPLE_SURE - 0.01).answered
    silent = replace(low, example=EXAMPLE_NOT_SILENT - 0.01, silence=0.99)
    assert silent.silent and not silent.answered


def test_a_question_all_but_taught_for_the_passage_overrules_the_practice_guess() -> None:
    """The shop's own example beats the practice labeller's guess, not a silent detail."""
    from indexer.examples import EXAMPLE_NOT_SILENT

    low = _lukewarm(on_topic=False, confidence=0.1)
    guessed = replace(low, silence=0.99)
    assert guessed.silent
    taught = replace(guessed, example=EXAMPLE_NOT_SILENT)
    assert not taught.silent and taught.answered
    detail = replace(low, silent_detail="storage_encryption", example=0.99)
    assert detail.silent and not detail.answered


def test_beside_a_silent_detail_only_a_sure_passage_on_the_practice_is_offered() -> None:
    on_security = AskedPractice("security", 0.95, {"security": 0.95, NONE: 0.0})
    lukewarm = _lukewarm(on_topic=True, confidence=0.9)
    labelled = replace(lukewarm.hits[0].passage, topics=("security",))
    result = replace(
        lukewarm,
        hits=[replace(lukewarm.hits[0], passage=labelled)],
        practice=on_security,
        silent_detail="breach_notice",
    )
    assert result.silent and not result.answered  # the detail is not answered ...
    assert result.beside_silence is result.hits[0]  # ... the practice's passage is beside it
    # Not silent on a detail, the passage is the answer (or nothing): nothing "beside".
    assert replace(result, silent_detail="").beside_silence is None
    # Unless the question is surely on the practice the passage is labelled with, or the
    # passage is close enough to quote, it is not offered.
    assert replace(result, on_topic=False).beside_silence is None
    assert replace(result, detail_kind=False).beside_silence is None
    assert replace(result, confidence=ON_TOPIC_FLOOR - 0.01).beside_silence is None


def test_a_compound_question_gets_the_practice_beside_the_detail_left_out(
    corpus_retriever: Retriever,
) -> None:
    question = "Which cookies do you use, and how can I turn them off?"
    result = corpus_retriever.search(question, "kinaexpert")
    assert result.silent_detail == "cookie_control" and not result.answered
    beside = result.beside_silence
    assert beside is not None and "cookies" in beside.passage.topics and result.on_topic
    # A detail that only some kinds of passage give (what a request costs: a passage on
    # rights or contact) gets no other kind beside it (Webstore's shipping paragraph).
    fee = corpus_retriever.search("Is it free to ask what data you hold about me?", "webstore")
    assert fee.silent_detail == "request_fee" and fee.beside_silence is None
    # Nor does a detail named in words of its own: what a policy says on collection is no
    # context for whether calls are recorded.
    calls = corpus_retriever.search("Do you record phone calls?", "kinaexpert")
    assert calls.silent_detail == "call_recording" and calls.beside_silence is None
    # KIVI names no retention period at all: nothing on retention to offer.
    silent = corpus_retriever.search("How long do you keep my address?", "kivismart")
    assert silent.beside_silence is None


def test_a_question_about_something_else_is_not_answered() -> None:
    sure = AskedPractice(NONE, 0.7, {NONE: 0.7, "identity": 0.3})
    unsure = AskedPractice("sharing", 0.5, {NONE: 0.4, "sharing": 0.5})
    confident = replace(_lukewarm(on_topic=False, confidence=0.99), practice=sure)
    assert not confident.answered
    assert replace(confident, practice=unsure).answered


def test_an_app_for_the_iphone_is_not_a_privacy_question(corpus_retriever: Retriever) -> None:
    # It met KIVI's preamble at a confidence of 0.87 and was answered with it.
    result = corpus_retriever.search("Finns det en app till iPhone?", "kivismart")
    assert result.practice.not_privacy and not result.answered


def test_agreement_needs_a_sure_practice_that_labels_the_best_passage(
    corpus_retriever: Retriever,
) -> None:
    result = corpus_retriever.search("How long do you keep my address?", "webstore")
    top = result.hits[0].passage
    assert result.practice.practice == "retention" and "retention" in top.topics
    assert result.on_topic
    weather = corpus_retriever.search("Will it rain in Prague tomorrow?", "webstore")
    assert not weather.on_topic and not weather.answered


def test_answer_at_one_counts_the_quote_not_the_passage(corpus_retriever: Retriever) -> None:
    assert quote_holds_answer(["We keep  data\nfor 5 years."], ["keep data for 5 years"])
    assert not quote_holds_answer(["Something else."], ["keep data for 5 years"])
    question = EvalQuestion(
        "t1", "webstore", "en", "How long do you keep my data?", ["up to 5 years"], "question"
    )
    uncovered = EvalQuestion(
        "t2", "kivismart", "en", "How long do you keep my data?", [], "uncovered", "retention"
    )
    report = summarize(run(corpus_retriever, [question, uncovered]))
    assert report["answer@1"] == 1.0
    assert report["uncovered_said"] == 1.0
    assert report["question_practices"]["retention"]["recall"] == 1.0


def test_answer_at_one_counts_what_the_reply_quotes_as_the_intent_routes_it(
    corpus_retriever: Retriever,
) -> None:
    from indexer.intents import IntentRecogniser

    recogniser = IntentRecogniser(corpus_retriever.embedder)
    # Taken for a person: the reply quotes nothing, whatever the passage found holds.
    person = EvalQuestion(
        "t1",
        "webstore",
        "en",
        "I want to talk to a real person right now about my shipping address",
        ["may be transmitted to a freight or shipping company"],
        "question",
    )
    # Asked about sharing, read as a copy of the data: answered, the copy offered beside.
    courier = EvalQuestion(
        "t2",
        "webstore",
        "en",
        "what does the courier get to know about me?",
        ["may be transmitted to a freight or shipping company"],
        "question",
    )
    outcomes = run(corpus_retriever, [person, courier], recogniser=recogniser)
    assert outcomes[0].intent == "handoff" and outcomes[0].routed_quote == ()
    assert outcomes[0].quote_hit and not outcomes[0].answer_hit
    assert outcomes[1].intent == "question" and outcomes[1].routed_quote is None
    assert outcomes[1].answer_hit
    report = summarize(outcomes)
    assert report["answer@1"] == 0.5 and report["quote@1"] == 1.0
    # A request started: the passage the right's own question finds, whole, as the bot
    # quotes it before offering the request.
    copy = EvalQuestion(
        "t3", "klingit", "en", "send me a copy of all my personal data", ["x"], "question"
    )
    (started,) = run(corpus_retriever, [copy], recogniser=recogniser)
    assert started.intent == "access" and started.routed_quote
    right = corpus_retriever.search(RIGHT_QUESTIONS[Intent.ACCESS], "klingit", language="en")
    assert started.routed_quote == tuple(right.hits[0].passage.sentences)


def test_a_request_asked_about_counts_as_offered_not_as_recognised() -> None:
    from indexer.evaluation import Outcome

    result = _lukewarm(on_topic=False, confidence=0.9)

    def outcome(expected: str, intent: str, asked: str | None = None) -> Outcome:
        question = EvalQuestion("c", "shop", "en", "…", [], expected)
        return Outcome(question, result, None, True, intent, (), asked)

    report = summarize(
        [
            outcome("deletion", "deletion"),  # acted on
            outcome("deletion", "question", asked="deletion"),  # "Shall I start…?"
            outcome("deletion", "question", asked="access"),  # the wrong request offered
            outcome("access", "handoff"),
            outcome("question", "question"),
        ]
    )
    assert report["intents"]["deletion"]["accuracy"] == round(1 / 3, 4)
    offered = report["requests_acted_or_asked"]
    assert offered["deletion"] == {"share": round(2 / 3, 4), "n": 3}
    assert offered["access"] == {"share": 0.0, "n": 1} and "question" not in offered


def test_eval_files_of_issue_11_are_well_formed() -> None:
    eval_dir = PROJECT_ROOT / "tests" / "eval"
    uncovered = read_questions(eval_dir / "uncovered.jsonl")
    assert len(uncovered) >= 40 and {q.lang for q in uncovered} >= LANGUAGES
    assert {q.shop for q in uncovered} >= {
        "kinaexpert",
        "kivismart",
        "autoparts-ua",
        "klingit",
        "webstore",
    }
    # Each written blind by people who saw only the policies: the second on 2026-12-07, the
    # third on 2026-12-07 when the second had become a dev set, the fourth later that day (the
    # third a dev set from then on).
    for folder in ("unseen", "unseen2", "unseen3", "unseen4"):
        unseen = read_questions(eval_dir / folder / "questions.jsonl")
        chat = read_questions(eval_dir / folder / "chat.jsonl")
        assert len(unseen) >= 150 and len(chat) >= 150
        assert {q.lang for q in unseen} >= LANGUAGES and {q.lang for q in chat} >= LANGUAGES
    # The fifth and seventh, chat messages only, for the requests said in every style; the
    # sixth, policy questions only (2026-12-07, both blind).
    for folder in ("unseen5", "unseen7"):
        chat = read_questions(eval_dir / folder / "chat.jsonl")
        assert len(chat) >= 150 and {q.lang for q in chat} >= LANGUAGES
    # The policy question sets written blind later, each at a session's start.
    for folder in ("unseen6", "unseen8", "unseen10", "unseen12", "unseen14"):
        later = read_questions(eval_dir / folder / "questions.jsonl")
        assert len(later) >= 150 and {q.lang for q in later} >= LANGUAGES
        assert sum(q.uncovered for q in later) >= 40 and sum(q.out_of_scope for q in later) >= 20
    # A dev set of questions on the details a policy may leave out, most of them uncovered.
    details = read_questions(eval_dir / "silence" / "questions.jsonl")
    assert sum(q.uncovered for q in details) >= 150 and {q.lang for q in details} >= LANGUAGES


def test_rights_a_text_names() -> None:
    from indexer.named_rights import rights_named

    glossary = default_glossary()

    def named(text: str) -> frozenset[str]:
        return rights_named(text, glossary.concepts_in(text))

    assert named("Can I get a copy of my data?") == {"access"}
    assert named("Můžu dostat export všech dat, co o mně máte?") == {"access"}
    assert named("Kann ich meine Daten berichtigen lassen?") == {"correction"}
    assert named("Видаліть мої дані") == {"deletion"}
    assert named("How long do you keep my address?") == frozenset()
    assert named("Jak se odhlásím z newsletteru?") == {"unsubscribe"}


def test_a_right_is_silent_only_when_asked_about_and_never_named() -> None:
    from indexer.named_rights import silent_right

    access, both = frozenset({"access"}), frozenset({"access", "deletion"})
    rights = {"rights": 0.9}
    assert silent_right(access, rights, frozenset({"deletion"})) == "access"
    assert silent_right(access, rights, frozenset({"access", "deletion"})) == ""
    assert silent_right(access, {"rights": 0.2}, frozenset()) == ""  # not about rights
    assert silent_right(frozenset(), rights, frozenset()) == ""
    # Naming two rights, one of which the policy names: that one is answered.
    assert silent_right(both, rights, frozenset({"deletion"})) == ""
    assert silent_right(both, rights, frozenset()) == "access"
    # Unsubscribing is asked about under marketing and rights together.
    unsubscribe = frozenset({"unsubscribe"})
    assert silent_right(unsubscribe, {"marketing": 0.3, "rights": 0.3}, frozenset()) == (
        "unsubscribe"
    )
    assert silent_right(unsubscribe, {"cookies": 0.9, "marketing": 0.1}, frozenset()) == ""


def test_a_passage_names_a_right_only_where_it_speaks_of_it() -> None:
    from indexer.named_rights import rights_a_passage_names

    glossary = default_glossary()
    text = "Tyto soubory cookie se obvykle smažou, když se odhlásíte."  # logging out
    concepts = glossary.concepts_in(text)
    assert rights_a_passage_names(text, concepts, {"cookies"}) == set()
    text = "You can unsubscribe from our marketing emails at any time."
    concepts = glossary.concepts_in(text)
    assert rights_a_passage_names(text, concepts, {"marketing"}) == {"unsubscribe"}
    assert rights_a_passage_names(text, concepts, {"rights"}) == {"unsubscribe"}


def test_unsubscribing_at_shops_whose_policy_never_says_how(
    corpus_retriever: Retriever,
) -> None:
    question = "Can I unsubscribe from your newsletter at any time?"
    for shop in ("kinaexpert", "autoparts-ua"):
        result = corpus_retriever.search(question, shop)
        assert result.silent_right == "unsubscribe" and not result.answered, shop
    for shop in ("klingit", "kivismart"):  # both say how: at the foot of each email, by mail
        result = corpus_retriever.search(question, shop)
        assert result.silent_right == "" and result.answered, shop
    # Logging out is not unsubscribing.
    cookies = corpus_retriever.search("Zmizí ty soubory cookie, když se odhlásím?", "kinaexpert")
    assert cookies.silent_right == ""


def test_details_a_question_asks_about_and_a_policy_names() -> None:
    from indexer.named_details import default_details, details_said

    details = {detail.name: detail for detail in default_details()}
    breach = details["breach_notice"]
    assert breach.asked_in("Вы сообщите мне, если произойдёт утечка моих данных?")
    assert breach.asked_in("Kommer ni att meddela mig om ni får ett dataintrång?")
    # A breach of one's own account is not a question about being told of one.
    assert not breach.asked_in("My account got hacked, what do I do?")
    # Klingit's customers notify it of a breach of their password; it never says it tells them.
    assert not breach.said_in("You will immediately notify Us of any other breach of security")
    assert breach.said_in("We will notify you of a personal data breach without delay.")
    assert details["ai_training"].asked_in("Trénujete na mých datech umělou inteligenci?")
    # A card typed over an encrypted connection is a question about security, not storage.
    card = details["card_details"]
    assert card.asked_in("Ukládáte si číslo mojí platební karty?")
    assert card.asked_in("Ви зберігаєте дані моєї картки?")
    assert not card.asked_in("is the connection encrypted when i type in my card number?")
    date = details["policy_date"]
    assert date.asked_in("Когда последний раз обновлялась эта политика?")
    assert details_said([("Last update: January 2024, Rev.: 1a", ())], default_details()) == {
        "policy_date"
    }


def test_practices_rights_and_details_have_distinct_names() -> None:
    # The bot keys one table of sentences, law notes and requests by all three.
    from indexer.named_details import default_details
    from indexer.named_rights import RIGHTS

    details = {detail.name for detail in default_details()}
    practices = set(practice_ids())
    assert not (details & set(RIGHTS)) and not (details | set(RIGHTS)) & practices


def test_a_detail_is_silent_only_when_asked_about_and_never_named() -> None:
    from indexer.named_details import default_details, silent_detail

    details = default_details()
    question = "Will you let me know if my data leaks?"
    assert silent_detail(question, {"security": 0.8}, frozenset(), details) == "breach_notice"
    assert silent_detail(question, {"security": 0.8}, frozenset({"breach_notice"}), details) == ""
    assert silent_detail(question, {"cookies": 0.8}, frozenset(), details) == ""


# (question, shop, the detail said to be left out, or "" when the policy gives it)
DETAILS_AT_THE_DEMO_SHOPS = [
    ("Will you tell me if my data leaks?", "klingit", "breach_notice"),
    ("When was this policy last updated?", "webstore", ""),  # "Last update: January 2024"
    ("When was this policy last updated?", "klingit", "policy_date"),
    ("Do you train artificial intelligence on my data?", "klingit", "ai_training"),
    # KIVI says how to refuse cookies (the browser's settings); KinaExpert never does.
    ("How can I turn off your cookies?", "kinaexpert", "cookie_control"),
    ("How can I turn off your cookies?", "kivismart", ""),
    # Webstore names its external payment processor; Klingit never speaks of cards.
    ("Przechowujecie numer mojej karty płatniczej?", "klingit", "card_details"),
    ("Przechowujecie numer mojej karty płatniczej?", "webstore", ""),
    # A period is given by a passage on retention (Webstore's five years), a cookie's life by
    # a passage on cookies (KinaExpert's "deleted when you log out").
    ("Скільки часу ви зберігаєте мої дані?", "autoparts-ua", "retention_period"),
    ("Скільки часу ви зберігаєте мої дані?", "webstore", ""),
    ("How long do your cookies last?", "klingit", "cookie_duration"),
    ("How long do your cookies last?", "kinaexpert", ""),
    # How long a visit lasts is not how long data is kept.
    ("are you tracking how long I stay on ur site?", "kinaexpert", ""),
    # Details named in words of their own: Klingit names a subpoena, its DPO, the right to
    # portability, to withdraw consent, its Google sign-in, a timeframe for answers, and the
    # Do Not Track signal...
    ("Do you give my data to the police?", "webstore", "law_enforcement"),
    ("Do you give my data to the police?", "klingit", ""),
    ("Do you have a data protection officer?", "kinaexpert", "dpo_named"),
    ("Do you have a data protection officer?", "klingit", ""),
    ("Can I get my data in a machine-readable format?", "webstore", "portability"),
    ("Can I get my data in a machine-readable format?", "klingit", ""),
    ("How can I withdraw my consent?", "kinaexpert", "consent_withdrawal"),
    ("How can I withdraw my consent?", "klingit", ""),
    ("If I sign in with Google, what do you get from Google?", "webstore", "social_login"),
    ("If I sign in with Google, what do you get from Google?", "klingit", ""),
    ("Wie schnell beantworten Sie eine Anfrage zu meinen Daten?", "klingit", ""),
    ("Wie schnell beantworten Sie eine Anfrage zu meinen Daten?", "kivismart", "response_time"),
    ("Do you respect Do Not Track?", "klingit", "do_not_track"),
    ("Do you respect Do Not Track?", "webstore", ""),
    # ... KIVI asks users to check its page for changes; Webstore only dates its policy ...
    ("Will you email me when the privacy policy changes?", "kivismart", ""),
    ("Will you email me when the privacy policy changes?", "webstore", "change_notice"),
    # ... and none of the five speaks of these.
    ("Что будет с моими данными, если вашу компанию продадут?", "webstore", "business_transfer"),
    ("Nahráváte telefonní hovory se zákazníky?", "kivismart", "call_recording"),
    ("Używacie odcisków palców albo rozpoznawania twarzy?", "klingit", "biometrics"),
    ("Spårar ni min plats via GPS?", "klingit", "location"),
    ("Prüfen Sie meine Kreditwürdigkeit?", "kinaexpert", "credit_check"),
    ("Чи є у вас двофакторна автентифікація?", "klingit", "two_factor"),
    ("Are passwords stored hashed?", "kivismart", "password_storage"),
    ("Is my data encrypted on your servers?", "webstore", "storage_encryption"),
    ("Which employees can see my data?", "webstore", "staff_access"),
    ("Do you send advertising by SMS?", "kivismart", "sms_marketing"),
    ("Do you share data with your parent company or affiliates?", "webstore", "group_companies"),
    ("What is your company registration number?", "kivismart", "company_number"),
    ("Are you ISO 27001 certified?", "klingit", "security_certification"),
    ("What happens to my account when I die?", "klingit", "deceased"),
    ("Is it free to ask what data you hold about me?", "webstore", "request_fee"),
    ("Do you ask for my consent before setting cookies?", "kivismart", "cookie_consent"),
    # A company asked for by name: none of the five names its carrier, payment processor or
    # host; KinaExpert speaks of third-party analysis, Klingit of no analytics at all.
    ("Which courier do you use to deliver my order?", "webstore", "carrier_named"),
    ("Jakou platební bránu používáte?", "webstore", "payment_named"),
    ("Do you use Google Analytics on your site?", "klingit", "analytics_named"),
    ("Do you use Google Analytics on your site?", "kinaexpert", ""),
    ("Which cloud provider hosts my data?", "klingit", "hosting_named"),
    ("How often do you send the newsletter?", "kivismart", "marketing_frequency"),
    ("Wird meine Bewertung mit meinem Namen veröffentlicht?", "autoparts-ua", "public_reviews"),
    ("What happens to my account if I don't log in for years?", "klingit", "inactive_account"),
    # Words of a detail in a question about something else.
    ("Kann ich die Seite auch nutzen, ohne mich zu registrieren?", "autoparts-ua", ""),
    ("Do you sell my data to other companies?", "webstore", ""),
    ("Do you store my phone number in your records?", "kivismart", ""),
    ("What does the courier get to know about me?", "webstore", ""),
    ("Do you keep my data after I stop using the service?", "klingit", ""),
]


def test_details_at_the_demo_shops(corpus_retriever: Retriever) -> None:
    for question, shop, detail in DETAILS_AT_THE_DEMO_SHOPS:
        result = corpus_retriever.search(question, shop)
        assert result.silent_detail == detail, (question, shop)
        if detail:
            assert result.silent and not result.answered
    dated = corpus_retriever.search("When was this policy last updated?", "webstore")
    assert dated.answered and "2024" in dated.hits[0].passage.text


def test_a_copy_of_ones_data_at_a_shop_that_only_speaks_of_deletion(
    corpus_retriever: Retriever,
) -> None:
    webstore = corpus_retriever.search("Can I get a copy of all my data you hold?", "webstore")
    assert webstore.silent_right == "access" and webstore.silent and not webstore.answered
    # Klingit's policy names the right of access: answered from it.
    klingit = corpus_retriever.search("Can I get a copy of all my data you hold?", "klingit")
    assert klingit.silent_right == "" and klingit.answered
    deletion = corpus_retriever.search("Can my data be deleted if I ask?", "webstore")
    assert deletion.silent_right == "" and deletion.answered


def test_a_second_passage_is_quoted_only_when_it_scores_about_as_well(
    corpus_retriever: Retriever,
) -> None:
    question = "Hur skyddar ni mina personuppgifter?"
    result = corpus_retriever.search(question, "klingit", k=3)
    vector = corpus_retriever.embed_questions([question])[0]
    assert result.answered and len(result.hits) == 3
    first, second = result.hits[0], result.hits[1]
    close = replace(
        result, hits=[first, replace(second, score=first.score - ALSO_WITHIN / 2), result.hits[2]]
    )
    also = corpus_retriever.also_quote(close, vector)
    assert also is not None and also.hit.passage.key == second.passage.key
    assert 0 < len(also.sentences) <= 2
    assert set(also.sentences) <= set(second.passage.sentences)
    far = replace(result, hits=[first, replace(second, score=first.score - ALSO_WITHIN)])
    assert corpus_retriever.also_quote(far, vector) is None
    # Nothing beside a reply that quotes nothing (the policy is silent), nor beside a lone hit.
    unsure = replace(close, silent_detail="breach_notice")
    assert not unsure.answered and corpus_retriever.also_quote(unsure, vector) is None
    assert corpus_retriever.also_quote(replace(close, hits=[first]), vector) is None
