"""LangChainBackend: any LangChain chat model, each text of the plan with its own
temperature and seed; its real twin is ChatOpenAI against llama-cpp-python's server."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.callbacks import CallbackManagerForLLMRun  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import (AIMessage, BaseMessage, ChatMessage,  # noqa: E402
                                     HumanMessage, SystemMessage)
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402

from codegen_hook.backends.base import CompletionRequest, Message  # noqa: E402
from codegen_hook.backends.langchain import (LangChainBackend, load_chat_model,  # noqa: E402
                                             message_text, to_langchain_messages)
from codegen_hook.errors import (BackendError, BackendUnavailableError,  # noqa: E402
                                 ConfigError, EgressRefusedError)
from tests.backends.test_openai_http import (FakeServer, chat_reply,  # noqa: E402,F401
                                             server)
from tests.backends.test_openai_real_server import llama_server  # noqa: E402,F401

PLAN = ((0.0, 100), (0.8, 101), (0.8, 102), (0.8, 103), (0.8, 104))
MESSAGES = (Message("system", "You write Python."), Message("user", "Fill the stub."))


class Recording(BaseChatModel):
    """A chat model with the sampling fields real integrations have; it answers with
    the settings it ran at and records every call (the list is shared by copies)."""

    temperature: float = 0.7
    seed: int | None = None
    delay: float = 0.0
    calls: list[dict[str, Any]] = []
    fail_with: Exception | None = None

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        call = {"messages": messages, "stop": stop, "kwargs": kwargs,
                "temperature": self.temperature, "seed": self.seed,
                "max_tokens": getattr(self, "max_tokens", None), "start": time.monotonic()}
        self.calls.append(call)
        time.sleep(self.delay)
        call["end"] = time.monotonic()
        if self.fail_with is not None:
            raise self.fail_with
        text = f"t={self.temperature} seed={self.seed}"
        message = AIMessage(content=text, usage_metadata={
            "input_tokens": 11, "output_tokens": 3, "total_tokens": 14})
        return ChatResult(generations=[ChatGeneration(message=message)])


class RecordingChat(Recording):
    """Most integrations (ChatOpenAI, ChatAnthropic, ...) call the limit `max_tokens`."""

    max_tokens: int | None = None


class OllamaLike(Recording):
    """Ollama's integration calls it `num_predict`."""

    num_predict: int | None = None


def request(**kwargs: Any) -> CompletionRequest:
    return CompletionRequest(MESSAGES, **kwargs)


def test_each_text_runs_with_its_own_temperature_and_seed() -> None:
    model = RecordingChat(calls=[])
    backend = LangChainBackend(model)
    completion = backend.complete(request(n=5, schedule=PLAN, max_tokens=64,
                                          stop=("\n\n\n", "```")))

    assert completion.texts == ["t=0.0 seed=100", "t=0.8 seed=101", "t=0.8 seed=102",
                                "t=0.8 seed=103", "t=0.8 seed=104"]
    assert sorted((c["temperature"], c["seed"]) for c in model.calls) == list(PLAN)
    assert all(c["max_tokens"] == 64 for c in model.calls)
    assert all(c["stop"] == ["\n\n\n", "```"] and c["kwargs"] == {} for c in model.calls)
    assert completion.prompt_tokens == 55 and completion.completion_tokens == 15
    assert completion.extra == {"sampling_applied": 1.0}
    assert completion.model == "langchain:RecordingChat"
    assert (model.temperature, model.seed, model.max_tokens) == (0.7, None, None)


def test_messages_map_to_langchain_messages() -> None:
    model = RecordingChat(calls=[])
    LangChainBackend(model).complete(CompletionRequest((
        Message("system", "sys"), Message("user", "question"),
        Message("assistant", "earlier answer"), Message("tool", "output"))))
    [call] = model.calls
    sent = call["messages"]
    assert [type(m) for m in sent] == [SystemMessage, HumanMessage, AIMessage, ChatMessage]
    assert [m.content for m in sent] == ["sys", "question", "earlier answer", "output"]
    assert sent[3].role == "tool"
    assert call["stop"] is None
    assert to_langchain_messages(()) == []


def test_a_model_without_sampling_fields_answers_at_its_own_settings() -> None:
    model = GenericFakeChatModel(messages=iter(["first", "second", "third"]))
    backend = LangChainBackend(model)
    assert backend.sampling_fields == () and backend.length_field == ""
    completion = backend.complete(request(n=3, temperature=0.8, seed=1))
    assert sorted(completion.texts) == ["first", "second", "third"]
    assert completion.extra == {"sampling_applied": 0.0}
    assert completion.prompt_tokens == 0  # no usage_metadata: nothing counted
    assert backend.configured(0.8, 1, 64) is model  # nothing to set, no copy


def test_fake_chat_model_answers_in_plan_order_one_at_a_time() -> None:
    model = GenericFakeChatModel(messages=iter(["first", "second", "third"]))
    backend = LangChainBackend(model, max_concurrency=1)
    assert backend.complete(request(n=3)).texts == ["first", "second", "third"]


def test_num_predict_is_set_where_max_tokens_is_not_a_field() -> None:
    model = OllamaLike(calls=[])
    backend = LangChainBackend(model)
    assert backend.length_field == "num_predict"
    copy = backend.configured(0.8, 9, 128)
    assert isinstance(copy, OllamaLike)
    assert (copy.temperature, copy.seed, copy.num_predict) == (0.8, 9, 128)
    assert backend.configured(0.0, None, 128).seed is None


def test_texts_run_concurrently_up_to_max_concurrency() -> None:
    model = RecordingChat(calls=[], delay=0.2)
    LangChainBackend(model, max_concurrency=2).complete(request(n=4, schedule=PLAN[:4]))
    starts = sorted(c["start"] for c in model.calls)
    ends = sorted(c["end"] for c in model.calls)
    overlapping = max(sum(1 for s in starts if s <= t) - sum(1 for e in ends if e <= t)
                      for t in starts)
    assert overlapping == 2


def test_usage_metadata_from_a_real_message_is_summed() -> None:
    answers = iter([AIMessage(content="a", usage_metadata={
        "input_tokens": 5, "output_tokens": 2, "total_tokens": 7}), "b"])
    completion = LangChainBackend(GenericFakeChatModel(messages=answers),
                                  max_concurrency=1).complete(request(n=2))
    assert completion.texts == ["a", "b"]
    assert (completion.prompt_tokens, completion.completion_tokens) == (5, 2)


def test_content_blocks_become_text() -> None:
    assert message_text(AIMessage(content=[{"type": "text", "text": "def f"},
                                           {"type": "image_url", "image_url": "x"},
                                           "(): pass"])) == "def f(): pass"
    assert message_text(AIMessage(content="plain")) == "plain"
    assert message_text(object()) == ""


@pytest.mark.parametrize(("error", "kind", "words"), [
    (ValueError("bad request"), BackendError, "failed"),
    (ConnectionError("refused"), BackendUnavailableError, "cannot reach"),
    (TimeoutError("slow"), BackendUnavailableError, "cannot reach"),
])
def test_model_errors_become_backend_errors(error: Exception, kind: type[Exception],
                                            words: str) -> None:
    backend = LangChainBackend(RecordingChat(calls=[], fail_with=error))
    with pytest.raises(kind, match=words) as caught:
        backend.complete(request())
    assert type(caught.value) is kind and str(error) in str(caught.value)


def test_an_egress_refusal_inside_a_client_error_is_raised_as_itself() -> None:
    class APIConnectionError(Exception):
        pass

    try:
        raise EgressRefusedError("endpoint host 'example.com' is not on this machine")
    except EgressRefusedError as refused:
        wrapped = APIConnectionError("Connection error.")
        wrapped.__cause__ = refused
    backend = LangChainBackend(RecordingChat(calls=[], fail_with=wrapped))
    with pytest.raises(EgressRefusedError, match="not on this machine"):
        backend.complete(request())


def test_not_a_chat_model_is_config_error() -> None:
    with pytest.raises(ConfigError, match="BaseChatModel"):
        LangChainBackend("gpt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_concurrency"):
        LangChainBackend(RecordingChat(calls=[]), max_concurrency=0)


# -- langchain_model: "package.module:factory" ---------------------------------------


@pytest.fixture
def models_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "my_lc_models.py").write_text(
        "from langchain_core.language_models.fake_chat_models import GenericFakeChatModel\n"
        "INSTANCE = GenericFakeChatModel(messages=iter(['from instance']))\n"
        "def make():\n"
        "    return GenericFakeChatModel(messages=iter(['from factory']))\n"
        "def broken():\n"
        "    raise RuntimeError('no api key')\n"
        "def not_a_model():\n"
        "    return 42\n"
        "class Holder:\n"
        "    factory = staticmethod(make)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_lc_models", raising=False)
    return "my_lc_models"


def test_load_a_factory_or_an_instance(models_module: str) -> None:
    made = load_chat_model(f"{models_module}:make")
    assert LangChainBackend(made).complete(request()).texts == ["from factory"]
    instance = load_chat_model(f"{models_module}:INSTANCE")
    assert LangChainBackend(instance).complete(request()).texts == ["from instance"]
    assert isinstance(load_chat_model(f"{models_module}:Holder.factory"),
                      GenericFakeChatModel)


@pytest.mark.parametrize(("path", "words"), [
    ("my_lc_models", "not a 'package.module:factory'"),
    (":make", "not a 'package.module:factory'"),
    ("my_lc_models:", "not a 'package.module:factory'"),
    ("my lc:make", "not a 'package.module:factory'"),
    ("no_such_module_here:make", "cannot import 'no_such_module_here'"),
    ("my_lc_models:missing", "has no 'missing'"),
    ("my_lc_models:broken", "calling it failed.*no api key"),
    ("my_lc_models:not_a_model", "gave a int, not a LangChain chat model"),
])
def test_bad_langchain_model_paths_are_config_errors(models_module: str, path: str,
                                                     words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_chat_model(path)


def test_missing_langchain_core_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_core.language_models", None)
    with pytest.raises(ConfigError, match=r"codegen-hook\[langchain\]"):
        load_chat_model("my_lc_models:make")


# -- ChatOpenAI: what each copy sends, on a loopback fake, and on the real server ------


def test_chat_openai_copies_send_their_own_sampling(server: FakeServer) -> None:  # noqa: F811
    chat_openai = pytest.importorskip("langchain_openai").ChatOpenAI
    lock = threading.Lock()

    def answer(payload: Any) -> Any:
        with lock:
            return chat_reply([f"t={payload['temperature']} seed={payload.get('seed')}"],
                              prompt_tokens=20, completion_tokens=4)

    server.reply = answer
    model = chat_openai(base_url=server.base_url, api_key="sk-local", model="qwen",
                        max_retries=0, timeout=30)
    backend = LangChainBackend(model)
    completion = backend.complete(request(n=5, schedule=PLAN, max_tokens=48,
                                          stop=("```",)))

    assert completion.texts == ["t=0.0 seed=100", "t=0.8 seed=101", "t=0.8 seed=102",
                                "t=0.8 seed=103", "t=0.8 seed=104"]
    sent = sorted((r.payload for r in server.posts()), key=lambda p: p["seed"])
    assert [(p["temperature"], p["seed"]) for p in sent] == list(PLAN)
    # ChatOpenAI sends its max_tokens field as OpenAI's newer `max_completion_tokens`
    assert all(p["max_completion_tokens"] == 48 and p["stop"] == ["```"]
               and p["model"] == "qwen" and "n" not in p for p in sent)
    assert [m["role"] for m in sent[0]["messages"]] == ["system", "user"]
    assert completion.prompt_tokens == 100 and completion.completion_tokens == 20
    assert backend.describe() == "langchain:ChatOpenAI:qwen"
    assert model.temperature is None and model.seed is None  # the original is untouched


@pytest.mark.real_model
def test_chat_openai_on_llama_cpp_python_server(llama_server: str) -> None:  # noqa: F811
    chat_openai = pytest.importorskip("langchain_openai").ChatOpenAI
    # llama-cpp-python reads `max_tokens`, not the `max_completion_tokens` ChatOpenAI sends
    model = chat_openai(base_url=llama_server, api_key="sk-local", model="qwen",
                        max_retries=0, timeout=120, extra_body={"max_tokens": 48})
    completion = LangChainBackend(model).complete(CompletionRequest(
        (Message("user", "Write a Python function add(a, b) returning a + b."),),
        n=2, schedule=((0.0, 1), (0.8, 2)), max_tokens=48))
    assert len(completion.texts) == 2 and all(completion.texts)
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
