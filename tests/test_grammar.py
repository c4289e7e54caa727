"""The English grammar: a corpus of readings and refusals, arguments whose verdict flips when a
sentence is misread, the 256 syllogism forms against the classical table, and the readings."""

from __future__ import annotations

import itertools

import pytest

from mastermind.reasoning.engine import SYLLOGISMS, evaluate
from mastermind.reasoning.formulas import Formula
from mastermind.reasoning.parse import PremiseError, parse_premise
from tests.grammar_corpus import CORPUS, REFUSED


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) + len(REFUSED) >= 200
    assert len({s for s, _ in CORPUS} | {s for s, _ in REFUSED}) == len(CORPUS) + len(REFUSED)


@pytest.mark.parametrize(("sentence", "reading"), CORPUS, ids=[s for s, _ in CORPUS])
def test_reading(sentence: str, reading: str) -> None:
    formula = parse_premise(sentence)
    assert str(formula) == reading
    assert parse_premise(reading) == formula  # the reading means what was read


@pytest.mark.parametrize(("sentence", "reason"), REFUSED, ids=[s for s, _ in REFUSED])
def test_refusal(sentence: str, reason: str) -> None:
    with pytest.raises(PremiseError) as caught:
        parse_premise(sentence)
    error = caught.value
    assert error.why.startswith(reason)
    assert error.nearest and "nearest accepted forms" in str(error)
    assert sentence in str(error)


def test_a_refusal_points_at_the_word() -> None:
    with pytest.raises(PremiseError) as caught:
        parse_premise("Socrates is wise but Plato is foolish.")
    assert caught.value.column == len("Socrates is wise ") + 1
    assert "at column 18" in str(caught.value)
    with pytest.raises(PremiseError) as caught:
        parse_premise("  Most people are honest.")
    assert caught.value.column == 3
    assert any("All S are P" in form for form in caught.value.nearest)


def test_two_readings_are_refused_with_both_shown() -> None:
    with pytest.raises(PremiseError) as caught:
        parse_premise("Either it rains or it snows, and it is cold.")
    why = caught.value.why
    assert "more than one way" in why
    assert "it rains or (it snows and it is cold)" in why or "both" in why


# Each argument's verdict depends on reading every sentence right: a misreading listed in the
# issue (negation as an opaque proposition, `if` backwards, `unless` as xor, a scope error, a
# bad singular) turns the verdict around.
ARGUMENTS: list[tuple[list[str], str | None, bool]] = [
    # (premises, conclusion, valid) -- conclusion None: the premises must be inconsistent
    (["All men are mortal.", "Socrates is a man.", "Socrates isn't mortal."], None, False),
    (["It rains.", "It does not rain."], None, False),
    (["None of the students are lazy.", "Tom is a student."], "Tom is not lazy.", True),
    (["None of the students are lazy.", "Tom is a student."], "Tom is lazy.", False),
    (["The ground is wet if it rains.", "It rains."], "The ground is wet.", True),
    (["The ground is wet if it rains.", "The ground is wet."], "It rains.", False),
    (["It rains only if there are clouds.", "It rains."], "There are clouds.", True),
    (["It rains only if there are clouds.", "There are clouds."], "It rains.", False),
    (
        ["The picnic is cancelled unless it is sunny.", "It is not sunny."],
        "The picnic is cancelled.",
        True,
    ),
    (
        ["The picnic is cancelled unless it is sunny.", "It is sunny."],
        "The picnic is not cancelled.",
        False,
    ),
    (
        ["It is not the case that it rains and the sun shines.", "It rains."],
        "The sun does not shine.",
        True,
    ),
    (["It is not the case that it rains and the sun shines."], "It does not rain.", False),
    (["Some cats are black or white.", "No cats are black."], "Some cats are white.", True),
    (["Some cats are black or white."], "Some cats are black.", False),
    (["All birds and bats are animals.", "Fido is a bat."], "Fido is an animal.", True),
    (["All of the dogs are loyal.", "Rex is a dog."], "Rex is loyal.", True),
    (["Everyone is mortal.", "Socrates is a person."], "Socrates is mortal.", True),
    (["A whale is a mammal.", "Moby is a whale."], "Moby is a mammal.", True),
    (["A whale is a mammal.", "Moby is a mammal."], "Moby is a whale.", False),
    (["Plato was a philosopher.", "All philosophers were wise."], "Plato was wise.", True),
    (["All wolves are animals.", "Fido is a wolf."], "Fido is an animal.", True),
    (["All heroes are brave.", "Achilles is a hero."], "Achilles is brave.", True),
    (["All buses are vehicles.", "Every vehicle is a machine."], "All buses are machines.", True),
    (["If it rains, then the ground is wet.", "It rains."], "The ground is wet.", True),
    (["If it rains, the ground is wet.", "The ground is not wet."], "It does not rain.", True),
    (["Neither it rains nor it snows."], "It does not snow.", True),
    (["Not all birds fly."], "Some birds do not fly.", True),
    (["Not all birds fly."], "No birds fly.", False),
    (["All dogs bark.", "Fido is a dog."], "Fido barks.", True),
    (["All dogs bark.", "Fido barks."], "Fido is a dog.", False),
    (["Socrates and Plato are men.", "All men are mortal."], "Plato is mortal.", True),
    (["Socrates or Plato is wise.", "Socrates is not wise."], "Plato is wise.", True),
    (["There are no ghosts."], "No ghosts are friendly.", True),
    (["Nobody is perfect.", "Socrates is a person."], "Socrates is not perfect.", True),
    (["Socrates is neither wise nor old."], "Socrates is not old.", True),
    (["Mr. Smith is a teacher.", "All teachers are patient."], "Mr. Smith is patient.", True),
    (["Every dog barks.", "Some pets are dogs."], "Some pets bark.", True),
    (
        ["It will rain.", "Whenever it rains, the ground will be wet."],
        "The ground will be wet.",
        True,
    ),
    (
        ["It rains if and only if there are clouds.", "There are no clouds."],
        "It does not rain.",
        True,
    ),
    # 'not' denies the whole list; each name; bare plurals joined; a plural definite
    (["Socrates is not wise and old.", "Socrates is wise."], "Socrates is not old.", True),
    (["Socrates is not wise and old."], "Socrates is not old.", False),
    (["It does not rain and snow.", "It rains."], "It does not snow.", True),
    (["Socrates is not wise or old."], "Socrates is not old.", True),
    (["Socrates and Plato are not men."], "Plato is not a man.", True),
    (["Both Alice and Bob are engineers."], "Bob is an engineer.", True),
    (["Cats and dogs are mammals.", "Tom is a cat."], "Tom is a mammal.", True),
    (
        ["The roads are icy.", "If the roads are icy, the match is cancelled."],
        "The match is cancelled.",
        True,
    ),
    (["The roads are icy.", "The road is a road."], "The road is icy.", False),
]


@pytest.mark.parametrize(
    ("premises", "conclusion", "valid"),
    ARGUMENTS,
    ids=[f"{i}" for i in range(len(ARGUMENTS))],
)
def test_arguments_whose_verdict_depends_on_the_reading(
    premises: list[str], conclusion: str | None, valid: bool
) -> None:
    result = evaluate({"premises": premises, "conclusion": conclusion})
    assert result["rejected"] == []
    if conclusion is None:
        assert result["consistent"] is False
    else:
        assert result["consistent"] is True
        assert result["valid"] is valid, result["explanation"]


# The second review's wrong verdicts (/tmp/r13/args.txt): read right, the verdict is right;
# misread, it turned around. Those read now are checked above; those refused must name the
# premise that is not read, never give a verdict without it.
ARGUMENTS_READ: list[tuple[list[str], str | None, bool]] = [
    (["All dogs bark.", "Fido is a dog too."], "Fido barks.", True),
    (["All dogs bark.", "Rex also barks."], "Rex barks.", True),
    (["All cacti are plants.", "Some cacti are green."], "Some plants are green.", True),
    (["Socrates is mortal too.", "Socrates is not mortal."], None, False),
]
ARGUMENTS_REFUSED: list[tuple[list[str], str | None]] = [
    (["The soup is on the stove and it is hot.", "If it is hot then the pool is open."], "p"),
    (["Alice and Bob are married.", "Carol and Dave are married."], "Alice and Dave are married."),
    (["Alice and Bob are similar.", "Bob and Carol are similar."], "Alice and Carol are similar."),
    (["Lots of people are happy."], "Some people are happy."),
    (["Ten students are lazy.", "No students are lazy."], None),
    (["Sadly Socrates is dead."], "Socrates is dead."),
    (["Perhaps Socrates is mortal."], "Something is mortal."),
    (["Socrates is hardly wise.", "Socrates is wise."], None),
    (["Cicero is Tully.", "Tully is a Roman."], "Cicero is a Roman."),
    (["Fido barks or else Rex sleeps.", "Fido does not bark."], "Rex sleeps."),
    (["No news is good news.", "Some news is good news."], None),
    (["Three men are tall."], "Some men are tall."),
    (["Fido barks before Rex does not bark."], "Fido barks."),
    (["Mark Twain is Samuel Clemens.", "Samuel Clemens is a writer."], "Mark Twain is a writer."),
    (["If the tea is ready, it is warm.", "The tea is ready."], "The tea is warm."),
    (["Tom and Jerry are enemies."], "Tom is an enemy."),
]


@pytest.mark.parametrize(
    ("premises", "conclusion", "valid"),
    ARGUMENTS_READ,
    ids=[f"{i}" for i in range(len(ARGUMENTS_READ))],
)
def test_review_arguments_read_right(
    premises: list[str], conclusion: str | None, valid: bool
) -> None:
    test_arguments_whose_verdict_depends_on_the_reading(premises, conclusion, valid)


@pytest.mark.parametrize(
    ("premises", "conclusion"),
    ARGUMENTS_REFUSED,
    ids=[f"{i}" for i in range(len(ARGUMENTS_REFUSED))],
)
def test_review_arguments_are_refused_not_misread(
    premises: list[str], conclusion: str | None
) -> None:
    result = evaluate({"premises": premises, "conclusion": conclusion})
    assert premises[0] in [r["premise"] for r in result["rejected"]]


TERMS = {"S": "poets", "M": "sailors", "P": "farmers"}
TEMPLATES = {
    "A": "All {x} are {y}.",
    "E": "No {x} are {y}.",
    "I": "Some {x} are {y}.",
    "O": "Some {x} are not {y}.",
}
FIGURES = {1: ("MP", "SM"), 2: ("PM", "SM"), 3: ("MP", "MS"), 4: ("PM", "MS")}


def _sentence(letter: str, pair: str) -> str:
    return TEMPLATES[letter].format(x=TERMS[pair[0]], y=TERMS[pair[1]])


FORMS = [
    ("".join(mood), figure)
    for mood in itertools.product("AEIO", repeat=3)
    for figure in (1, 2, 3, 4)
]


@pytest.mark.parametrize(("mood", "figure"), FORMS, ids=[f"{m}-{f}" for m, f in FORMS])
def test_all_256_syllogism_forms_against_the_classical_table(mood: str, figure: int) -> None:
    major, minor = FIGURES[figure]
    premises = [_sentence(mood[0], major), _sentence(mood[1], minor)]
    conclusion = _sentence(mood[2], "SP")
    boolean = evaluate({"premises": premises, "conclusion": conclusion})
    traditional = evaluate(
        {"premises": premises, "conclusion": conclusion, "reading": "traditional"}
    )
    known = SYLLOGISMS.get((mood, figure))
    assert traditional["valid"] is (known is not None)
    assert boolean["valid"] is (known is not None and known[1] is None)
    if known is not None:
        name, needs = known
        assert boolean["form"] == f"{name} ({mood}-{figure})"
        if needs is not None:  # a conditional form: explained, not just refuted
            term = {"S": "poet", "M": "sailor", "P": "farmer"}[needs]
            assert boolean["valid_if_exist"] == [term]
            assert any("valid only if some" in line for line in boolean["explanation"])
        else:
            assert any(name in line for line in boolean["explanation"])


def test_the_traditional_reading_is_chosen_per_request() -> None:
    request = {
        "premises": ["All squares are rectangles.", "All squares are rhombuses."],
        "conclusion": "Some rhombuses are rectangles.",
    }
    boolean = evaluate(request)
    assert boolean["valid"] is False and boolean["reading"] == "boolean"
    assert boolean["counterexample"]["individuals"]  # a situation without squares
    assert not any("square" in props for props in boolean["counterexample"]["individuals"].values())
    traditional = evaluate({**request, "reading": "traditional"})
    assert traditional["valid"] is True
    assert "something is a square" in traditional["assumed"]
    with pytest.raises(ValueError, match="reading"):
        evaluate({**request, "reading": "modal"})


def test_sharing_keeps_parity_small() -> None:
    names = [f"x{i}" for i in range(20)]
    result = evaluate(
        {"premises": [" xor ".join(names)], "conclusion": " xor ".join(reversed(names))}
    )
    assert result["valid"] is True
    odd = evaluate({"premises": [" xor ".join(names), " <-> ".join(names)]})
    assert odd["consistent"] in (True, False)  # decided at all (this used to run out of memory)


def test_derive_on_a_long_categorical_chain() -> None:
    words = ["ants", "bugs", "cats", "dogs", "eels", "fish", "goats", "hens", "ibises", "jays"]
    words += ["kites", "lions", "mice"]
    premises = [f"All {a} are {b}." for a, b in itertools.pairwise(words)]
    derived = evaluate({"premises": premises})["derived"]
    assert "all ants are mice" in derived
    assert len([d for d in derived if d.startswith("all ")]) == 12 * 13 // 2 - 12


def test_derived_conclusions_are_sentences_that_read_back() -> None:
    from mastermind.reasoning.engine import derive

    checked = 0
    for premises, _, _ in ARGUMENTS:
        formulas = [parse_premise(p) for p in premises]
        found: list[Formula] = []
        derive(formulas, found=found)
        for formula in found:
            assert parse_premise(str(formula)) == formula, str(formula)
            checked += 1
    assert checked > 40


def test_sentences_with_too_many_parses_or_words_are_refused_not_cut_short() -> None:
    # every "and" could join the names or the sentences: 2^9 parses, and no subset of them
    # may decide the reading
    with pytest.raises(PremiseError, match="512 parses"):
        parse_premise("Fido barks and " * 9 + "Fido barks.")
    with pytest.raises(PremiseError, match="more than 32 words"):
        parse_premise("All " + "big " * 30 + "dogs bark.")
    assert str(parse_premise("Fido barks and " * 3 + "Fido barks.")) == " and ".join(
        ["Fido barks"] * 4
    )


def test_readings_that_print_alike_are_shown_with_their_structure() -> None:
    from mastermind.reasoning.formulas import Not, Pred
    from mastermind.reasoning.grammar import _structure

    group = Pred("to water", "the plant needs")
    one = Pred("to need water", "the plant")
    assert str(group) == str(one)  # why the structure is shown instead
    assert _structure(group) == "[the plant needs] water"
    assert _structure(Not(one)) == "not ([the plant] need water)"


def test_an_invisible_character_is_named_and_a_long_sentence_is_not_repeated() -> None:
    with pytest.raises(PremiseError) as caught:
        parse_premise("Socrates is a man.\u202e")
    assert caught.value.why == "the character U+202E (RIGHT-TO-LEFT OVERRIDE) is not read"
    assert caught.value.column == 19
    nested = "(" * 900 + "p" + ")" * 900
    with pytest.raises(PremiseError) as caught:
        parse_premise(nested)
    assert "nested too deeply" in str(caught.value)
    assert len(str(caught.value)) < 600 and "(1,801 characters)" in str(caught.value)


def test_it_beside_a_thing_in_another_premise_is_refused() -> None:
    # 'It is hot' next to the soup may be the soup: refused, in a premise or the conclusion
    result = evaluate(
        {
            "premises": ["The soup is on the stove.", "It is hot.", "If it is hot, p."],
            "conclusion": "p",
        }
    )
    assert [r["premise"] for r in result["rejected"]] == ["It is hot.", "If it is hot, p."]
    assert "beside a sentence about the soup" in result["rejected"][0]["reason"]
    result = evaluate({"premises": ["The soup is on the stove."], "conclusion": "It is hot."})
    assert result["valid"] is False and result["rejected"][0]["premise"] == "It is hot."
    # the weather is still the weather, and 'it is hot' alone is read
    result = evaluate(
        {
            "premises": ["If it rains, the road is wet.", "It rains."],
            "conclusion": "The road is wet.",
        }
    )
    assert result["rejected"] == [] and result["valid"] is True
    result = evaluate({"premises": ["If it is hot, p.", "It is hot."], "conclusion": "p"})
    assert result["rejected"] == [] and result["valid"] is True
