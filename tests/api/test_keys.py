"""Properties of the confused-deputy guard: whatever a caller sends, they only ever reach their own prefix."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from api.auth import Caller
from api.http import ApiError
from api.images import source_key

principals = st.text(min_size=1, max_size=80)


@given(principals, st.text(max_size=60))
def test_any_key_a_caller_sends_resolves_inside_their_prefix_or_is_refused(principal, image_key):
    # GIVEN any caller WHEN any key arrives in the path
    caller = Caller(principal)
    try:
        resolved = source_key(caller, image_key)
    except ApiError as error:
        # THEN it is refused as a 400 ...
        assert error.status == 400
        return
    # ... or it names an object directly inside the caller's prefix, never a path out of it
    assert resolved.startswith(caller.prefix)
    assert "/" not in resolved.removeprefix(caller.prefix) and ".." not in resolved


@given(principals, principals)
def test_different_principals_get_different_prefixes(first, second):
    assert (Caller(first).prefix == Caller(second).prefix) == (first == second)
