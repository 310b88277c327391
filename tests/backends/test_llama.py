"""The embedded backend's model loading: extra CPU buffers off where llama.cpp has AMX.

The real-model tests (test_llama_batch.py) are the end-to-end check: on a CPU with AMX
they died with SIGILL before `extra_buffers_work` existed.
"""

from __future__ import annotations

from types import SimpleNamespace

import llama_cpp
import llama_cpp.llama_cpp as low_level
import pytest

from codegen_hook.backends.llama import extra_buffers_work, model_params

NO_AMX = (b"CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | "
          b"LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ")
AMX = NO_AMX.replace(b"LLAMAFILE", b"AMX_INT8 = 1 | LLAMAFILE")


def _module(info: bytes) -> SimpleNamespace:
    return SimpleNamespace(llama_print_system_info=lambda: info)


def test_extra_buffers_are_used_by_a_build_without_amx() -> None:
    assert extra_buffers_work(_module(NO_AMX)) is True


def test_extra_buffers_are_refused_by_a_build_with_amx() -> None:
    assert extra_buffers_work(_module(AMX)) is False


def test_the_installed_build_is_read_without_error() -> None:
    info = llama_cpp.llama_print_system_info()
    assert extra_buffers_work(llama_cpp) is (b"AMX_INT8 = 1" not in info)


def test_model_params_set_the_field_only_while_a_model_is_built() -> None:
    before = low_level.llama_model_default_params
    with model_params(extra_buffers=False):
        assert low_level.llama_model_default_params().use_extra_bufts is False
    assert low_level.llama_model_default_params is before
    assert low_level.llama_model_default_params().use_extra_bufts is True  # llama.cpp's


def test_model_params_are_restored_when_the_build_fails() -> None:
    before = low_level.llama_model_default_params
    with pytest.raises(ValueError), model_params(extra_buffers=False):
        raise ValueError("llama.cpp could not load it")
    assert low_level.llama_model_default_params is before
