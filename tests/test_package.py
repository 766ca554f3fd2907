"""Every public name the package promises can be imported from it, and is what it says."""

import importlib
from importlib.metadata import version

import pytest

import social_licence


def test_every_exported_name_is_the_package_object_of_that_name():
    names = [n for n in social_licence.__all__ if n != "__version__"]
    assert len(names) == len(set(names)) > 20
    for name in names:
        obj = getattr(social_licence, name)
        assert obj.__name__ == name, f"social_licence.{name} resolves to {obj.__name__}"
        assert obj.__module__.startswith("social_licence."), f"{name} comes from {obj.__module__}"
        assert getattr(importlib.import_module(obj.__module__), name) is obj, name


def test_version_is_the_installed_distribution_version():
    assert social_licence.__version__ == version("social-licence")


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'rake_everything'"):
        social_licence.rake_everything  # noqa: B018
