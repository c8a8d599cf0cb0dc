"""Python functions as OpenAI tools, one definition for both voice agents.

A plain function with type hints and a numpy- or Google-style docstring is the
tool. :func:`tool` reads it once:

- the name is the function's ``__name__``;
- the description is the docstring's summary and body;
- the parameters' JSON Schema comes from pydantic (``create_model`` over the
  signature: ``Literal`` becomes ``enum``, defaults make a parameter optional),
  with each parameter's description taken from the docstring by
  ``docstring_parser``.

The same :class:`Tool` then renders the two wire shapes OpenAI uses
(``openai.types.chat.ChatCompletionFunctionToolParam`` for Chat Completions,
``openai.types.realtime.RealtimeFunctionToolParam`` for Realtime, whose fields
sit one level higher), and runs a call: the model's JSON arguments are
validated against the same pydantic model before the function sees them.

>>> @tool
... def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict:
...     '''The current weather in a city.
...
...     Parameters
...     ----------
...     city : str
...         City name, e.g. "Paris".
...     unit : {"C", "F"}
...         Temperature unit.
...     '''
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import docstring_parser
import pydantic

from ..session.tool_calls import ToolCallRecord

if typing.TYPE_CHECKING:
    from openai.types.chat import ChatCompletionFunctionToolParam
    from openai.types.realtime import RealtimeFunctionToolParam
    from openai.types.responses import FunctionToolParam

__all__ = ["Tool", "ToolCallRecord", "Toolbox", "tool"]


@dataclass(frozen=True)
class Tool:
    """A function the model may call, with its JSON Schema.

    Attributes
    ----------
    fn : callable
        The Python function; called with keyword arguments.
    name, description : str
        As the model sees them.
    arguments_model : type of pydantic.BaseModel
        Validates the model's arguments (its JSON Schema is :attr:`parameters`).
    """

    fn: Callable[..., Any]
    name: str
    description: str
    arguments_model: type[pydantic.BaseModel] = field(repr=False)

    @property
    def parameters(self) -> dict[str, Any]:
        """The arguments' JSON Schema (an ``object`` with ``properties`` and ``required``)."""
        schema = self.arguments_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema.setdefault("required", [])
        schema["additionalProperties"] = False
        return schema

    def chat_schema(self) -> ChatCompletionFunctionToolParam:
        """The Chat Completions ``tools`` entry: ``{"type": "function", "function": {...}}``."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters}}

    def realtime_schema(self) -> RealtimeFunctionToolParam:
        """The Realtime ``session.tools`` entry: ``{"type": "function", "name", "description", "parameters"}``."""
        return {"type": "function", "name": self.name, "description": self.description, "parameters": self.parameters}

    def responses_schema(self) -> FunctionToolParam:
        """The Responses API ``tools`` entry (``openai.types.responses.FunctionToolParam``):
        the Realtime shape plus ``strict`` (False: the schema keeps optional parameters)."""
        return {"type": "function", "name": self.name, "description": self.description,
                "parameters": self.parameters, "strict": False}

    def validate(self, arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
        """The keyword arguments for :attr:`fn`, parsed from the model's JSON.

        Raises
        ------
        ValueError
            If the JSON is malformed or does not match :attr:`parameters`
            (a ``pydantic.ValidationError``, which names each bad field).
        """
        if arguments is None or arguments == "":
            arguments = {}
        if isinstance(arguments, str):
            parsed = self.arguments_model.model_validate_json(arguments)
        else:
            parsed = self.arguments_model.model_validate(dict(arguments))
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}

    def __call__(self, arguments: str | Mapping[str, Any] | None = None) -> Any:
        """Validate ``arguments`` (JSON text or a mapping) and call the function."""
        return self.fn(**self.validate(arguments))


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None) -> Any:
    """Make a :class:`Tool` from a typed, documented function (usable as a decorator).

    Parameters
    ----------
    fn : callable
        Every parameter needs a type hint; ``*args``/``**kwargs`` are refused.
    name, description : str, optional
        Override the function's name and docstring summary.

    Raises
    ------
    TypeError
        If a parameter has no type hint or is variadic, or the description is empty.
    """
    if fn is None:
        return lambda f: tool(f, name=name, description=description)
    if isinstance(fn, Tool):
        return fn
    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    param_docs = {p.arg_name: p.description or "" for p in doc.params}
    hints = typing.get_type_hints(fn)
    fields: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__}: *{p.name} cannot be described to the model; expected named parameters")
        if p.name not in hints:
            raise TypeError(f"tool {fn.__name__}: parameter {p.name!r} needs a type hint (expected e.g. `{p.name}: str`)")
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (hints[p.name], pydantic.Field(default, description=param_docs.get(p.name) or None))
    text = description or "\n\n".join(s for s in (doc.short_description, doc.long_description) if s)
    if not text:
        raise TypeError(f"tool {fn.__name__}: expected a docstring (the model reads it to decide when to call the tool)")
    model = pydantic.create_model(f"{fn.__name__}_arguments", __config__=pydantic.ConfigDict(extra="forbid"), **fields)
    return Tool(fn=fn, name=name or fn.__name__, description=text, arguments_model=model)


class Toolbox(Mapping[str, Tool]):
    """The tools an agent offers, by name (a read-only mapping of :class:`Tool`).

    Parameters
    ----------
    tools : iterable of Tool or callable
        Plain functions are wrapped with :func:`tool`.

    Raises
    ------
    ValueError
        If two tools share a name.
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    def add(self, fn: Tool | Callable[..., Any]) -> Tool:
        """Add a tool (a :class:`Tool` or a function); returns the :class:`Tool`."""
        t = tool(fn)
        if t.name in self._tools:
            raise ValueError(f"a tool named {t.name!r} is already in the toolbox")
        self._tools[t.name] = t
        return t

    def remove(self, name: str) -> None:
        """Remove the tool called ``name`` (KeyError if there is none)."""
        del self._tools[name]

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def chat_tools(self) -> list[ChatCompletionFunctionToolParam]:
        """The ``tools`` argument of ``client.chat.completions.create``."""
        return [t.chat_schema() for t in self._tools.values()]

    def realtime_tools(self) -> list[RealtimeFunctionToolParam]:
        """The ``tools`` of a Realtime ``session.update``."""
        return [t.realtime_schema() for t in self._tools.values()]

    def responses_tools(self) -> list[FunctionToolParam]:
        """The ``tools`` argument of ``client.responses.create``."""
        return [t.responses_schema() for t in self._tools.values()]

    def run(self, name: str, arguments: str | None, call_id: str | None = None) -> ToolCallRecord:
        """Run one call the model made; never raises (errors become the output the model reads)."""
        try:
            if name not in self._tools:
                raise KeyError(f"no tool named {name!r}; expected one of {sorted(self._tools)}")
            result = self._tools[name](arguments)
            output, ok = (result if isinstance(result, str) else json.dumps(result, default=str)), True
        except Exception as exc:  # noqa: BLE001 -- the model hears the error and can say so
            output, ok = json.dumps({"error": f"{type(exc).__name__}: {exc}"}), False
        return ToolCallRecord(name=name, arguments=arguments or "{}", output=output, ok=ok, call_id=call_id)

    def functions(self) -> dict[str, Callable[..., Any]]:
        """``{name: callable(**kwargs)}`` that validates first, for :class:`~voicekit.realtime.RealtimeSession`."""
        return {name: _validated(t) for name, t in self._tools.items()}


def _validated(t: Tool) -> Callable[..., Any]:
    def call(**kwargs: Any) -> Any:
        return t(kwargs)

    call.__name__ = t.name
    return call
