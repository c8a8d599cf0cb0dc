"""The stand-in's LLM glue: tool schemas, prompt shaping, model file lookup (no model run)."""

from __future__ import annotations

import jsonschema
import pytest

from voicekit.errors import StandinError
from voicekit.standin.engines.json_bounds import MAX_ARRAY_ITEMS, MAX_STRING_CHARS, bounded
from voicekit.standin.engines.llm import (
    DEFAULT_SYSTEM_PROMPT,
    GGUF_ENV,
    ToolSpec,
    Turn,
    _for_template,
    default_gguf,
    tool_choice_schema,
)
from voicekit.standin.routes.chat import AudioStore, _sentences

WEATHER = ToolSpec("get_weather", "Weather for a city.", {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
})
TIMER = ToolSpec("set_timer", "A countdown.", {
    "type": "object", "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"],
})


@pytest.mark.parametrize(
    ("obj", "allow_none", "valid"),
    [
        ({"tool": "get_weather", "arguments": {"city": "Paris"}}, True, True),
        ({"tool": "set_timer", "arguments": {"minutes": 5}}, False, True),
        ({"tool": "none"}, True, True),
        ({"tool": "none"}, False, False),
        ({"tool": "get_weather", "arguments": {}}, True, False),
        ({"tool": "set_timer", "arguments": {"minutes": "five"}}, True, False),
        ({"tool": "play_music", "arguments": {}}, True, False),
        ({"tool": "get_weather", "arguments": {"city": "It is a masterpiece. " * 20}}, True, False),  # looping
    ],
)
def test_tool_choice_schema_admits_exactly_the_allowed_decisions(obj, allow_none, valid):
    schema = tool_choice_schema([WEATHER, TIMER], allow_none=allow_none)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert jsonschema.Draft202012Validator(schema).is_valid(obj) is valid


def test_string_arguments_are_bounded_but_enums_are_left_alone():
    colour = ToolSpec("paint", "Paint.", {"type": "object", "properties": {
        "colour": {"type": "string", "enum": ["red", "blue"]}, "note": {"type": "string", "maxLength": 10},
        "tags": {"type": "array", "items": {"type": "string"}}}})
    args = tool_choice_schema([colour], allow_none=False)["anyOf"][0]["properties"]["arguments"]["properties"]
    assert "maxLength" not in args["colour"] and args["note"]["maxLength"] == 10
    assert args["tags"]["items"]["maxLength"] == 120
    assert colour.parameters["properties"]["tags"]["items"] == {"type": "string"}  # the tool itself unchanged


def test_template_adds_a_system_prompt_only_when_none_comes_first():
    assert _for_template([Turn("user", "hi")])[0] == Turn("system", DEFAULT_SYSTEM_PROMPT)
    assert _for_template([Turn("developer", "Be brief."), Turn("user", "hi")]) == [
        Turn("system", "Be brief."), Turn("user", "hi"),
    ]
    # A system turn after the first still gets the default first (else SmolLM2's template adds its persona).
    assert _for_template([Turn("user", "hi"), Turn("assistant", "Hello."), Turn("system", "Be brief.")]) == [
        Turn("system", DEFAULT_SYSTEM_PROMPT), Turn("user", "hi"), Turn("assistant", "Hello."), Turn("system", "Be brief."),
    ]


def test_tool_results_become_a_note_before_the_question_and_call_only_turns_drop():
    turns = [
        Turn("system", "Be brief."),
        Turn("user", "Weather in Paris?"),
        Turn("assistant", ""),
        Turn("tool", '{"conditions": "sunny"}', tool_name="get_weather"),
    ]
    out = _for_template(turns)
    assert [t.role for t in out] == ["system", "system", "user"]
    assert "get_weather" in out[1].content and "sunny" in out[1].content
    assert out[2].content == "Weather in Paris?"


def test_sentences_split_on_end_punctuation_followed_by_space():
    assert _sentences("It is sunny. It is 18") == (["It is sunny."], "It is 18")
    assert _sentences("It costs 3.") == ([], "It costs 3.")  # may continue as 3.5
    assert _sentences("Yes! Really? Ok\nNext") == (["Yes!", "Really?", "Ok"], "Next")


def test_audio_store_remembers_and_forgets():
    store = AudioStore(max_items=2)
    first, expires_at = store.add("one")
    assert store.transcript(first) == "one" and expires_at > 0
    store.set_transcript(first, "uno")
    assert store.transcript(first) == "uno"
    store.add("two")
    store.add("three")
    assert store.transcript(first) is None  # evicted, oldest first
    assert store.transcript("audio_unknown") is None


def test_custom_gguf_path_that_does_not_exist_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv(GGUF_ENV, str(tmp_path / "missing.gguf"))
    with pytest.raises(StandinError, match="expected a GGUF model file"):
        default_gguf()


def test_default_model_is_the_pinned_smollm2_file(monkeypatch):
    monkeypatch.delenv(GGUF_ENV, raising=False)
    path = default_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_a_file_that_is_not_gguf_fails_clearly(monkeypatch, tmp_path):
    from voicekit.standin.engines.llm import LLMEngine

    fake = tmp_path / "notes.gguf"
    fake.write_text("not a model")
    monkeypatch.setenv(GGUF_ENV, str(fake))
    with pytest.raises(StandinError, match="expected a GGUF chat model file"):
        LLMEngine()


def test_voicekit_llm_gguf_loads_another_model_file(monkeypatch, tmp_path):
    from voicekit.standin.engines.llm import LLMEngine

    monkeypatch.delenv(GGUF_ENV, raising=False)
    other = tmp_path / "my-model.gguf"
    other.symlink_to(default_gguf())
    monkeypatch.setenv(GGUF_ENV, str(other))
    engine = LLMEngine()
    assert engine.path == other and engine.name == "my-model.gguf"
    assert "Paris" in "".join(engine.stream([Turn("user", "What is the capital of France?")], temperature=0))


def test_a_tools_defs_references_are_inlined_into_its_branch():
    """pydantic (and openai.pydantic_function_tool) put an Enum in $defs; each tool is one
    branch of the decision schema, so its references must not point at the wrong root."""
    query = ToolSpec("query", "Look up a table.", {
        "$defs": {"Table": {"enum": ["orders", "customers"], "type": "string"},
                  "Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        "type": "object", "properties": {"table_name": {"$ref": "#/$defs/Table"}, "tree": {"$ref": "#/$defs/Node"}},
        "required": ["table_name"]})
    schema = tool_choice_schema([query, WEATHER], allow_none=True)
    assert "$ref" not in str(schema) and "$defs" not in str(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"tool": "query", "arguments": {"table_name": "orders"}})
    assert not validator.is_valid({"tool": "query", "arguments": {"table_name": "shoes"}})
    assert validator.is_valid({"tool": "query", "arguments": {"table_name": "orders", "tree": {"next": {"next": {}}}}})


def test_arrays_in_tool_arguments_are_bounded_and_an_enum_array_by_its_values():
    """Issue 24, defect 2: an unbounded array let SmolLM2 repeat one item until the decision's cap."""
    query = ToolSpec("query", "Query a table.", {"type": "object", "properties": {
        "columns": {"type": "array", "items": {"type": "string", "enum": ["id", "name", "total"]}},
        "notes": {"type": "array", "items": {"type": "string"}},
        "pair": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}}})
    args = tool_choice_schema([query], allow_none=False)["anyOf"][0]["properties"]["arguments"]["properties"]
    assert args["columns"]["maxItems"] == 3 and args["notes"]["maxItems"] == MAX_ARRAY_ITEMS
    assert args["pair"]["maxItems"] == 2 and "maxItems" not in query.parameters["properties"]["columns"]
    validator = jsonschema.Draft202012Validator({"anyOf": [{"properties": {"arguments": {"properties": args}}}]})
    assert not validator.is_valid({"arguments": {"columns": ["id"] * 50}})


def test_a_structured_output_schema_is_bounded_through_its_defs_for_the_grammar():
    """Issue 24, defect 1: strict schemas (pydantic's, with $defs) get string and array bounds, so
    llama.cpp's grammar must close them; the client's own schema is left as sent."""
    schema = {"$defs": {"Ingredient": {"type": "object", "properties": {"amount": {"type": "string"}}}},
              "type": "object", "properties": {"title": {"type": ["string", "null"]}, "ingredients": {
                  "type": "array", "items": {"$ref": "#/$defs/Ingredient"}},
                  "size": {"anyOf": [{"type": "string", "enum": ["S", "M"]}, {"type": "null"}]}}}
    out = bounded(schema)
    assert out["$defs"]["Ingredient"]["properties"]["amount"]["maxLength"] == MAX_STRING_CHARS
    assert out["properties"]["title"]["maxLength"] == MAX_STRING_CHARS
    assert out["properties"]["ingredients"]["maxItems"] == MAX_ARRAY_ITEMS
    assert out["properties"]["size"] == schema["properties"]["size"]
    assert "maxLength" not in schema["$defs"]["Ingredient"]["properties"]["amount"]


def test_a_request_with_no_token_limit_is_capped_only_by_the_context():
    """Issue 24, defect 1: no silent 512-token cap; llama.cpp then stops at the context's end."""
    from voicekit.standin.engines.llm import DEFAULT_MAX_TOKENS, LLMEngine

    engine = object.__new__(LLMEngine)  # _request builds a request; no model is loaded
    engine.n_ctx = 2048
    assert DEFAULT_MAX_TOKENS is None
    assert "max_tokens" not in engine._request([Turn("user", "hi")], None, 0.2, None)
    assert engine._request([Turn("user", "hi")], 40, 0.2, None)["max_tokens"] == 40


def test_a_result_in_words_becomes_the_beginning_of_the_reply_and_json_gives_facts():
    """Issue 24, defect 8: the reply after a result is constrained to carry it (engines/carry.py)."""
    import json

    from voicekit.standin.engines.carry import MAX_PREFIX_CHARS, carry_grammar, facts_of

    words = carry_grammar("  In Paris it is sunny and eighteen degrees. ")
    assert words is not None and words.startswith('root ::= "In Paris it is sunny and eighteen degrees." tail')
    long = carry_grammar("It rains. " * 60)
    assert long is not None and len(long.split('"')[1]) <= MAX_PREFIX_CHARS and long.split('"')[1].endswith("rains.")
    weather = json.dumps({"city": "Paris", "temperature_c": 18, "conditions": "sunny", "ok": True, "note": None})
    assert facts_of(json.loads(weather)) == ["Paris", "18", "sunny"]
    grammar = carry_grammar(weather)
    assert grammar is not None and grammar.count(" | f") == 5  # 3 facts in any of 6 orders
    assert '("Paris" | "paris")' in grammar and 'f1 ::= "18"' in grammar
    assert carry_grammar("") is None and carry_grammar('{"ok": true}') is None
    both = carry_grammar('{"city": "Paris"}', '{"city": "Rome"}')
    assert both is not None and '"Rome"' in both
