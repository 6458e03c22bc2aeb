"""Rendering: the guide's example exactly, fallbacks, autoescaped HTML, SMS segments, and a sandbox that
refuses template injection."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.errors import ReviewTemplateError, TemplateRefused
from tasks.reviews.rules.mapping import ReviewContext, context_from_job
from tasks.reviews.rules.rendering import render_messages, render_template
from tests.reviews.conftest import BRANDING, PUBLIC_URL, job_node, review_settings

TOKEN = "AbCdEfGhIjKlMnOpQrStUv"


def test_the_guides_example_renders_exactly() -> None:
    messages = render_messages(
        context_from_job(job_node()), review_settings(), BRANDING, token=TOKEN, channels=("sms", "email")
    )
    assert messages.sms is not None and messages.email is not None
    assert messages.sms.body == f"Hi John! How was your Water Heater Installation with Mike? {PUBLIC_URL}/r/{TOKEN}"
    assert (messages.sms.segments, messages.sms.encoding) == (1, "GSM-7")
    assert messages.email.subject == "How was your Water Heater Installation with Mike?"
    assert f"{PUBLIC_URL}/r/{TOKEN}" in messages.email.html and f"{PUBLIC_URL}/u/{TOKEN}" in messages.email.text
    assert "1 Main St" in messages.email.text  # the postal address footer


def test_missing_fields_fall_back() -> None:
    messages = render_messages(ReviewContext(job_id="j"), review_settings(), BRANDING, token=TOKEN, channels=("sms",))
    assert messages.sms is not None
    assert messages.sms.body == f"Hi there! How was your recent service? {PUBLIC_URL}/r/{TOKEN}"


def test_html_email_is_autoescaped_and_sms_is_not() -> None:
    context = context_from_job(job_node(client_firstName="<script>alert(1)</script>", title="Tom & Jerry's"))
    messages = render_messages(context, review_settings(), BRANDING, token=TOKEN, channels=("sms", "email"))
    assert messages.email is not None and messages.sms is not None
    assert "<script>" not in messages.email.html and "&lt;script&gt;" in messages.email.html
    assert "Tom &amp; Jerry&#39;s" in messages.email.html
    assert "Tom & Jerry's" in messages.sms.body


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ first_name.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ ''['__class__'] }}",
        "{{ first_name|attr('__class__') }}",
        "{{ self.__init__ }}",
        "{% set x = namespace() %}{{ x._Namespace__attrs }}",
    ],
)
def test_template_injection_is_refused_with_a_clear_error(tmp_path: Path, source: str) -> None:
    (tmp_path / "sms.txt.j2").write_text(source, encoding="utf-8")
    settings = review_settings(templates_dir=str(tmp_path))
    with pytest.raises(TemplateRefused) as caught:
        render_messages(
            ReviewContext(job_id="j", client_first_name="John"), settings, BRANDING, token=TOKEN, channels=("sms",)
        )
    assert "sms.txt.j2" in str(caught.value)


def test_a_contractor_override_wins_over_the_default(tmp_path: Path) -> None:
    (tmp_path / "sms.txt.j2").write_text("{{ first_name }}, thanks from {{ business_name }}! {{ review_url }}")
    settings = review_settings(templates_dir=str(tmp_path))
    messages = render_messages(context_from_job(job_node()), settings, BRANDING, token=TOKEN, channels=("sms", "email"))
    assert messages.sms is not None and messages.sms.body.startswith("John, thanks from Evergreen Home Services!")
    assert messages.email is not None and messages.email.subject.startswith("How was your")  # default kept


def test_an_sms_over_three_segments_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sms.txt.j2").write_text("Hi {{ first_name }}! " + "Thanks so much for choosing us. " * 16)
    with pytest.raises(ReviewTemplateError, match="segments"):
        render_messages(
            context_from_job(job_node()), review_settings(templates_dir=str(tmp_path)), BRANDING, token=TOKEN,
            channels=("sms",),
        )  # fmt: skip


def test_an_emoji_switches_to_ucs2_and_counts_segments() -> None:
    context = context_from_job(job_node(title="Water Heater Installation 🔥"))
    messages = render_messages(context, review_settings(), BRANDING, token=TOKEN, channels=("sms",))
    assert messages.sms is not None and messages.sms.encoding == "UCS-2" and messages.sms.segments == 2


@pytest.mark.parametrize("source,problem", [("{{ unknown_var }}", "undefined"), ("{% if %}", "line 1")])
def test_broken_templates_say_what_is_wrong(tmp_path: Path, source: str, problem: str) -> None:
    (tmp_path / "broken.j2").write_text(source)
    with pytest.raises(ReviewTemplateError, match=problem):
        render_template("broken.j2", {}, templates_dir=str(tmp_path))


def test_a_template_outside_the_folders_cannot_be_loaded() -> None:
    with pytest.raises(ReviewTemplateError, match="not found"):
        render_template("../../pyproject.toml", {})
