"""The public surface is explicit, sorted and complete."""

from __future__ import annotations

import audiencehub
import audiencehub.errors


def test_all_is_sorted_and_importable():
    """Every name in __all__ exists, and the list is sorted."""
    assert audiencehub.__all__ == sorted(audiencehub.__all__)
    for name in audiencehub.__all__:
        assert hasattr(audiencehub, name), name


def test_every_error_is_public():
    """Each exception of the tree is exported at the top level."""
    errors = {
        name
        for name, value in vars(audiencehub.errors).items()
        if isinstance(value, type) and issubclass(value, audiencehub.errors.AudienceHubError)
    }
    assert errors <= set(audiencehub.__all__)
