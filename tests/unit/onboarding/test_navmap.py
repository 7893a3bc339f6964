"""The transition table is consistent data."""

from __future__ import annotations

from cairn.onboarding import NAVMAP, Choice, View


def test_every_view_has_a_step():
    assert set(NAVMAP) == set(View)


def test_every_next_target_exists():
    for view, step in NAVMAP.items():
        for target in step.targets():
            assert target in NAVMAP, f"{view} leads to {target}, which has no step"
        for target in step.jumps:
            assert target in NAVMAP


def test_only_main_is_last():
    assert [v for v, s in NAVMAP.items() if s.next is None] == [View.MAIN]


def test_every_view_is_reachable_from_welcome_or_a_start_view():
    reachable = {View.WELCOME}
    frontier = [View.WELCOME]
    while frontier:
        step = NAVMAP[frontier.pop()]
        for target in step.targets() | step.jumps:
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(View)


def test_restore_words_never_lead_to_email():
    step = NAVMAP[View.RESTORE_WORDS]
    assert isinstance(step.next, Choice)
    assert View.EMAIL not in step.targets()


def test_first_and_last_screens_have_no_back():
    assert not NAVMAP[View.WELCOME].can_go_back
    assert not NAVMAP[View.LOADING].can_go_back
    assert not NAVMAP[View.MAIN].can_go_back
