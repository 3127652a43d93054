"""Stop strings never leak, even split across tokens."""

from __future__ import annotations

from engine.generation.stop import StopStringFilter


def _stream(stops, pieces):
    f = StopStringFilter(stops)
    out, hit = [], False
    for piece in pieces:
        text, hit = f.feed(piece)
        out.append(text)
        if hit:
            break
    if not hit:
        out.append(f.finish())
    return "".join(out), hit


def test_no_stop_strings_pass_everything():
    assert _stream([], ["a", "b"]) == ("ab", False)


def test_stop_string_split_over_tokens_is_cut_without_leaking():
    f = StopStringFilter(["\nUser:"])
    assert f.feed("Hello\nUs") == ("Hello", False)  # "\nUs" is held back
    assert f.feed("er: hi") == ("", True)


def test_held_text_is_released_when_it_turns_out_harmless():
    assert _stream(["STOP"], ["go ST", "AY here"]) == ("go STAY here", False)


def test_held_text_is_released_at_the_end():
    assert _stream(["STOP"], ["go ST"]) == ("go ST", False)


def test_earliest_of_several_stop_strings_wins():
    assert _stream(["b", "cd"], ["acdb"]) == ("a", True)
