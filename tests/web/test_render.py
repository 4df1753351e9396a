"""The templates' shared pieces, rendered alone."""

from __future__ import annotations

from studyhall.web.render import env


def test_field_is_a_labelled_input_with_the_attributes_given() -> None:
    html = env.from_string(
        '{{ field("x", "Name <", "name", "v", required=true, maxlength=5, min=none) }}'
    ).render()
    assert '<label for="x">Name &lt;</label>' in html
    assert '<input type="text" id="x" name="name" required maxlength="5" value="v">' in html


def test_field_without_a_value_has_none_and_a_help_describes_it() -> None:
    html = env.from_string(
        '{{ field("pw", "Password", "password", type="password", help="Long", cell=true) }}'
    ).render()
    assert html.strip().startswith("<div>") and html.strip().endswith("</div>")
    assert '<input type="password" id="pw" name="password" aria-describedby="pw-help">' in html
    assert '<small id="pw-help">Long</small>' in html
