"""Any LangChain chat model as a backend: `backend: langchain` with
`langchain_model: "package.module:factory"` (a callable returning a chat model, or a
chat model object). Needs the `langchain` extra (`pip install 'codegen-hook[langchain]'`).

Per-text temperature and seed: LangChain has no call-time sampling argument common to
all chat models. `bind(temperature=...)` forwards call kwargs into the provider's own
request, which some integrations accept (ChatOpenAI merges them into the payload) and
others reject or misplace (ChatOllama wants them inside `options`). What every
integration does read at request time is its own pydantic fields: `temperature` is a
standard constructor parameter, and `seed` (ChatOpenAI, ChatOllama, ...) and
`max_tokens` (or Ollama's `num_predict`) are fields where a provider supports them. So
each text of the plan runs on `model.model_copy(update=...)` with just the fields the
model's class declares: a shallow copy that shares the model's HTTP client and is not
re-validated. A model without a `temperature` field answers at its own settings
(`Completion.extra["sampling_applied"]` is 0 then). `stop` is passed to `invoke`, which
every chat model takes. The texts run concurrently on LangChain's own executor
(`get_executor_for_config`, as `Runnable.batch` does), results in plan order; token
counts come from each answer's `usage_metadata` when the model reports it.

The model reaches the network through its own client; the process-wide egress guard
(`codegen_hook.security.egress`) still allows only loopback and the hosts the user
listed.
"""

from __future__ import annotations

import importlib
import time
from typing import TYPE_CHECKING, Any, ClassVar

from codegen_hook.backends.base import Backend, Completion, CompletionRequest, Message
from codegen_hook.errors import (BackendError, BackendUnavailableError, CodegenHookError,
                                 ConfigError)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

__all__ = ["LangChainBackend", "load_chat_model"]

EXTRA_HINT = ("install the LangChain extra: pip install 'codegen-hook[langchain]' "
              "(or pip install langchain-core and your provider's package)")
DEFAULT_CONCURRENCY = 4


def _require_langchain() -> type[BaseChatModel]:
    try:
        from langchain_core.language_models import BaseChatModel
    except ImportError as exc:
        raise ConfigError(f"backend langchain needs langchain-core, which is not "
                          f"installed; {EXTRA_HINT}") from exc
    return BaseChatModel


def load_chat_model(path: str) -> BaseChatModel:
    """The chat model `path` ("package.module:attribute") names, called if callable."""
    base = _require_langchain()
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute or not all(
            part.isidentifier() for part in (*module_name.split("."), *attribute.split("."))):
        raise ConfigError(f"langchain_model {path!r} is not a 'package.module:factory' "
                          "path; set it to e.g. 'my_models:make_chat_model', a function "
                          "returning a LangChain chat model")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"langchain_model {path!r}: cannot import {module_name!r} "
                          f"({exc}); install it or fix langchain_model") from exc
    for name in attribute.split("."):
        try:
            found = getattr(found, name)
        except AttributeError as exc:
            raise ConfigError(f"langchain_model {path!r}: {module_name!r} has no "
                              f"{attribute!r}; fix langchain_model") from exc
    if not isinstance(found, base) and callable(found):
        try:
            found = found()
        except CodegenHookError:
            raise
        except Exception as exc:  # the user's factory: any failure is a config problem
            raise ConfigError(f"langchain_model {path!r}: calling it failed "
                              f"({type(exc).__name__}: {exc}); fix the factory") from exc
    if not isinstance(found, base):
        raise ConfigError(f"langchain_model {path!r} gave a {type(found).__name__}, not a "
                          "LangChain chat model (langchain_core BaseChatModel); point it "
                          "at a chat model or a function returning one")
    return found


class LangChainBackend(Backend):
    """Answers through a LangChain `BaseChatModel`, one invocation per text."""

    name: ClassVar[str] = "langchain"
    runs_locally: ClassVar[bool] = False  # the model decides; the egress guard still holds
    supports_n: ClassVar[bool] = True

    def __init__(self, chat_model: BaseChatModel,
                 max_concurrency: int = DEFAULT_CONCURRENCY) -> None:
        base = _require_langchain()
        if not isinstance(chat_model, base):
            raise ConfigError(f"LangChainBackend needs a LangChain chat model "
                              f"(BaseChatModel), not a {type(chat_model).__name__}")
        if max_concurrency < 1:
            raise ConfigError("LangChainBackend max_concurrency must be at least 1")
        self.chat_model = chat_model
        self.max_concurrency = max_concurrency
        fields = type(chat_model).model_fields
        self.sampling_fields = tuple(name for name in ("temperature", "seed") if name in fields)
        self.length_field = next((name for name in ("max_tokens", "num_predict")
                                  if name in fields), "")

    def describe(self) -> str:
        model = self.chat_model
        for attribute in ("model_name", "model"):
            value = getattr(model, attribute, None)
            if isinstance(value, str) and value:
                return f"langchain:{type(model).__name__}:{value}"
        return f"langchain:{type(model).__name__}"

    def configured(self, temperature: float, seed: int | None,
                   max_tokens: int) -> BaseChatModel:
        """A copy of the model with the fields it declares set for one text."""
        update: dict[str, Any] = {}
        if "temperature" in self.sampling_fields:
            update["temperature"] = temperature
        if "seed" in self.sampling_fields and seed is not None:
            update["seed"] = seed
        if self.length_field:
            update[self.length_field] = max_tokens
        return self.chat_model.model_copy(update=update) if update else self.chat_model

    def complete(self, request: CompletionRequest) -> Completion:
        from langchain_core.runnables import RunnableConfig
        from langchain_core.runnables.config import get_executor_for_config

        plan = request.plan()
        start = time.perf_counter()
        messages = to_langchain_messages(request.messages)
        stop = list(request.stop) or None
        models = [self.configured(t, s, request.max_tokens) for t, s in plan]

        def run(model: BaseChatModel) -> BaseMessage:
            return model.invoke(messages, stop=stop)

        try:
            if len(models) <= 1 or self.max_concurrency == 1:
                answers = [run(model) for model in models]
            else:
                config = RunnableConfig(max_concurrency=min(self.max_concurrency,
                                                            len(models)))
                with get_executor_for_config(config) as executor:
                    answers = list(executor.map(run, models))
        except CodegenHookError:
            raise
        except Exception as exc:  # a provider's own errors: any type, mapped to ours
            raise self._backend_error(exc) from exc
        prompt_tokens = completion_tokens = 0
        for answer in answers:
            usage = getattr(answer, "usage_metadata", None) or {}
            prompt_tokens += _count(usage.get("input_tokens"))
            completion_tokens += _count(usage.get("output_tokens"))
        return Completion(texts=[message_text(answer) for answer in answers],
                          model=self.describe(), prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens,
                          seconds=time.perf_counter() - start,
                          extra={"sampling_applied": float("temperature"
                                                           in self.sampling_fields)})

    def _backend_error(self, exc: Exception) -> CodegenHookError:
        cause: BaseException | None = exc
        while cause is not None:  # e.g. the egress guard's refusal inside a client error
            if isinstance(cause, CodegenHookError):
                return cause
            cause = cause.__cause__ or cause.__context__
        names = " ".join(kind.__name__ for kind in type(exc).__mro__)
        if isinstance(exc, (ConnectionError, TimeoutError)) or "Connection" in names \
                or "Timeout" in names:
            return BackendUnavailableError(
                f"the LangChain model {self.describe()} cannot reach its server "
                f"({type(exc).__name__}: {exc}); start it or fix the model's base URL")
        return BackendError(f"the LangChain model {self.describe()} failed "
                            f"({type(exc).__name__}: {exc}); check langchain_model, the "
                            "provider's settings and its server log")


def to_langchain_messages(messages: tuple[Message, ...]) -> list[BaseMessage]:
    from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    out: list[BaseMessage] = []
    for message in messages:
        kind = kinds.get(message.role)
        out.append(kind(content=message.content) if kind is not None
                   else ChatMessage(role=message.role, content=message.content))
    return out


def message_text(message: Any) -> str:
    """The text of an answer: string content, or the text blocks of a content list."""
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [block if isinstance(block, str) else str(block.get("text", ""))
                 for block in content
                 if isinstance(block, str)
                 or (isinstance(block, dict) and block.get("type") == "text")]
        return "".join(parts)
    return ""


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
