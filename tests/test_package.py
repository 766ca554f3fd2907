"""Every public name the package promises can be imported from it."""

import social_licence


def test_every_exported_name_resolves():
    for name in social_licence.__all__:
        assert getattr(social_licence, name) is not None, name


def test_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'rake_everything'"):
        social_licence.rake_everything  # noqa: B018
