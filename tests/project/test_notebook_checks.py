"""The notebooks' self-checks fail on a wrong answer (issue 25, item 3).

Each check cell is run here on a stand-in namespace: the right answer passes, and a
wrong one (the answer the offline model gave, or a learner's slip) raises
AssertionError. Running the notebooks themselves is nbval's job (``make test``).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def cell(notebook: str, needle: str) -> str:
    cells = json.loads((NOTEBOOKS / f"{notebook}.ipynb").read_text())["cells"]
    (source,) = ["".join(c["source"]) for c in cells if needle in "".join(c["source"])]
    return source


def run(source: str, namespace: dict[str, Any]) -> None:
    exec(compile(source, "<check>", "exec"), {"json": json, **namespace})  # noqa: S102 (the notebook's own cell)


# ------------------------------------------------------------ 04: French, text only
def event(source: str, kind: str, **data: Any) -> NS:
    return NS(source=source, type=kind, data={"type": kind, **data})


def realtime_04(instructions: str, modalities: list[str], text: str, backend: str = "standin") -> dict[str, Any]:
    events = [event("client", "conversation.item.create"),
              event("client", "response.create", response={"output_modalities": modalities,
                                                           "instructions": instructions}),
              event("server", "response.output_text.delta", response_id="resp_1", delta=text),
              event("server", "response.done", response={"id": "resp_1"})]
    exercise = NS(reply=None, assistant_text=text, response_ids=["resp_1"])
    return {"rt": NS(events=events), "exercise": exercise, "exercise_mark": 0, "backend": backend}


FRENCH_CHECK = cell("04_realtime", "assert exercise.reply is None")


def test_04_french_check_passes_the_exercise_as_written() -> None:
    run(FRENCH_CHECK, realtime_04("Answer in French, in one short sentence.", ["text"], "I'm glad to assist you."))
    run(FRENCH_CHECK, realtime_04("Answer in French.", ["text"], "Bonjour, bonne journée !", backend="openai"))


@pytest.mark.parametrize("namespace", [
    realtime_04("Answer in one short sentence.", ["text"], "Good morning!"),  # French never asked for
    realtime_04("Answer in French.", ["text", "audio"], "Bonjour !"),  # not text only
    realtime_04("Answer in French.", ["text"], "I'm glad to assist you.", backend="openai"),  # English on OpenAI
], ids=["no-french-asked", "audio-asked", "english-answer-on-openai"])
def test_04_french_check_fails_on_a_wrong_answer(namespace: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        run(FRENCH_CHECK, namespace)


# ------------------------------------------------------------ 04b: get_time through the backend
TIME_CHECK = cell("04b_live", "assert clock.delegation_ids")


def live_04b(arguments: dict[str, str], output: str, reply: str = "It is 9:30am.", backend: str = "standin",
             name: str = "get_time") -> dict[str, Any]:
    call = NS(name=name, arguments=json.dumps(arguments), output=output, ok=True)
    return {"clock": NS(delegation_ids=["dlg_1"], assistant_text=reply), "time_backend": NS(calls=[call]),
            "backend": backend}


def test_04b_time_check_passes_the_exercise_as_written() -> None:
    run(TIME_CHECK, live_04b({"city": "Tokyo"}, "It is 10:42 in Tokyo."))
    run(TIME_CHECK, live_04b({"city": "the_city_name"}, "It is 10:42 in the_city_name."))  # the stand-in's model
    run(TIME_CHECK, live_04b({"city": "Tokyo"}, "It is 10:42 in Tokyo.", "It's 10:42 in Tokyo.", backend="openai"))


@pytest.mark.parametrize("namespace", [
    live_04b({"city": "Paris"}, "It is 10:42 in Paris.", "It is 10:42.", backend="openai"),  # the wrong city
    live_04b({"city": "Tokyo"}, ""),  # the tool's answer never reached the model
    live_04b({"city": "Tokyo"}, "Sunny.", name="get_weather"),  # the wrong tool
    live_04b({"city": "Tokyo"}, "It is 10:42 in Tokyo.", "It is 9:30am.", backend="openai"),  # contradicts the tool
], ids=["wrong-city", "no-output", "wrong-tool", "reply-contradicts-tool-on-openai"])
def test_04b_time_check_fails_on_a_wrong_answer(namespace: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        run(TIME_CHECK, namespace)


# ------------------------------------------------------------ 04b: talk over a story
TALK_OVER_CHECK = cell("04b_live", "assert live.talk_overs")


def talk_over_04b(question: str, delegation_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    story = NS(user_text=question, talked_over=True, delegation_ids=list(delegation_ids),
               assistant_text="I am checking the story." if delegation_ids else "Once upon a time, a dragon")
    return {"live": NS(talk_overs=[{"at_ms": 1200}]), "story": story, "cut_in": NS(user_text="Ten of clubs.")}


def test_04b_talk_over_check_wants_a_story_asked_for() -> None:
    """Issue 25 item 6: step 4 says 'tell a long one' when asked for a story, and its question
    was ls_0890 ('unless to be rather cold hearted'), no story asked; the model said 'The old-santed.'"""
    run(TALK_OVER_CHECK, talk_over_04b("Please tell me a long story about a dragon."))
    with pytest.raises(AssertionError, match="ask for a story"):
        run(TALK_OVER_CHECK, talk_over_04b("Unless to be rather cold-hearted and selfish."))
    # the stand-in's decision pass once sent the story to the backend: the learner cut into an
    # acknowledgement, not a story, and the check passed
    with pytest.raises(AssertionError, match="not the backend's"):
        run(TALK_OVER_CHECK, talk_over_04b("Please tell me a long story about a dragon.", ("dlg_1",)))


# ------------------------------------------------------------ 05: the tool's output reaches the model
WEATHER_CHECK = cell("05_cascaded_agent", "assert [c.name for c in weather.tool_calls]")


def cascaded_05(tool_message: str, city: str = "Paris") -> dict[str, Any]:
    output = f"Sunny and 21 degrees in {city}."
    call = NS(name="get_weather", ok=True, arguments=json.dumps({"city": city}), output=output)
    messages = [{"role": "assistant"}, {"role": "tool", "content": tool_message}, {"role": "assistant"}]
    return {"weather": NS(tool_calls=[call], reply=object(), reply_text="It is 38 degrees.",
                          user_text=f"What is the weather like in {city} today?"),
            "agent": NS(messages=messages)}


def test_05_weather_check() -> None:
    run(WEATHER_CHECK, cascaded_05("Sunny and 21 degrees in Paris."))
    with pytest.raises(AssertionError):
        run(WEATHER_CHECK, cascaded_05("It is 38 degrees."))  # the model never saw the tool's answer
    with pytest.raises(AssertionError, match="Rome today"):  # the message names what the agent heard
        run(WEATHER_CHECK, cascaded_05("Sunny and 21 degrees in Rome.", city="Rome"))


# ------------------------------------------------------------ 07: claims follow the figures
def test_07_claims_only_what_the_figures_show() -> None:
    text = (NOTEBOOKS / "07_compare.ipynb").read_text().lower()
    assert "scores well" not in text and "score well" not in text
    check = cell("07_compare", 'assert set(outcomes) == {"cascaded"')
    probes = [("a", True), ("b", True), ("c", False), ("d", False)]
    right = {"cascaded": [True, False, True, False], "realtime": [True] * 4, "live": [False] * 4}
    run(check, {"outcomes": right, "probes": probes, "accuracy": {n: sum(r) / 4 for n, r in right.items()}})
    with pytest.raises(AssertionError):  # an agent that skipped a probe
        run(check, {"outcomes": {**right, "live": [True]}, "probes": probes,
                    "accuracy": {"cascaded": 0.5, "realtime": 1.0, "live": 1.0}})


# ------------------------------------------------------------ 05: reset() and a re-run barge-in cell
RESET_CHECK = cell("05_cascaded_agent", 'assert story.status == "interrupted"')


def barge_in_05(rows: list[tuple[str, int]], story_conversation: str) -> dict[str, Any]:
    story = NS(status="interrupted", spoken_text="Once", metrics=NS(conversation=story_conversation))
    return {"story": story, "agent": NS(messages=[{}, {}, {"role": "assistant", "content": "Once"}]),
            "table": NS(rows=[{"conversation": c, "turn": t} for c, t in rows])}


def test_05_reset_check_holds_after_a_rerun_and_fails_without_reset() -> None:
    first = [("conv_a", 0), ("conv_a", 1), ("conv_a", 2)]
    run(RESET_CHECK, barge_in_05([*first, ("conv_b", 0), ("conv_b", 1)], "conv_b"))
    # the barge-in cell run twice: three conversations, and the check still holds (issue 25, item 4)
    run(RESET_CHECK, barge_in_05([*first, ("conv_b", 0), ("conv_b", 1), ("conv_c", 0), ("conv_c", 1)], "conv_c"))
    with pytest.raises(AssertionError, match="reset"):  # no reset(): the story went on the first conversation
        run(RESET_CHECK, barge_in_05([*first, ("conv_a", 3)], "conv_a"))
