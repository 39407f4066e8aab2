"""Optional dependencies: a missing torch is reported naming the function called."""

import sys

import pytest

from layers.optional import import_torch


def test_without_torch_the_message_names_the_caller_and_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModuleNotFoundError) as info:
        import_torch("my_entry_point")
    assert str(info.value) == ("my_entry_point needs PyTorch, which is not installed: "
                               "pip install torch")
    assert info.value.name == "torch"


def test_with_torch_it_is_the_torch_module():
    torch = pytest.importorskip("torch")
    assert import_torch("my_entry_point") is torch
