"""workshop_helpers.display: masking, expected errors, diagrams, byte views, CLI text, tables."""

from __future__ import annotations

import base64
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest
from botocore.exceptions import ClientError

from workshop_helpers import display
from workshop_helpers.display import (
    aws_cli,
    compare_bytes,
    direct_diagram,
    envelope_diagram,
    expect_error,
    key_lifecycle_diagram,
    mask,
    response_table,
    reveal,
)
from workshop_helpers.errors import WorkshopError


def client_error(code: str, message: str = "msg", op: str = "Decrypt") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, op)


# --- masking -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [16, 24, 32, 64, 1024])
def test_mask_never_shows_the_whole_key(size):
    for _ in range(20):
        secret = os.urandom(size)
        encoded = base64.b64encode(secret).decode()
        shown = mask(secret)
        assert encoded not in shown and len(shown) == len(encoded)
        visible = shown.replace("*", "")
        assert len(visible) == 8 and shown[:4] == encoded[:4] and shown[-4:] == encoded[-4:]
        assert shown.count("*") >= len(encoded) - 8


def test_mask_hides_short_secrets_entirely():
    assert set(mask(b"abc")) == {"*"}
    assert set(mask(os.urandom(8))) == {"*"}


def test_mask_of_base64_text_is_the_same_as_of_bytes():
    key = os.urandom(32)
    assert mask(base64.b64encode(key).decode()) == mask(key)


def test_reveal_only_on_moto(moto_workshop):
    key = os.urandom(32)
    assert reveal(key, moto_workshop) == base64.b64encode(key).decode()
    for backend in ("endpoint", "aws"):
        with pytest.raises(WorkshopError, match="only on the moto backend"):
            reveal(key, replace(moto_workshop, backend=backend))


# --- expect_error ------------------------------------------------------------------------


def test_expect_error_catches_the_expected_code(capsys):
    with expect_error("InvalidCiphertextException") as caught:
        raise client_error("InvalidCiphertextException", "")
    assert caught.caught and caught.code == "InvalidCiphertextException" and caught.operation == "Decrypt"
    out = capsys.readouterr().out
    assert "Refused as expected: Decrypt -> InvalidCiphertextException" in out
    html = caught._repr_html_()
    assert "Decrypt" in html and "InvalidCiphertextException" in html and "role='note'" in html


def test_expect_error_fails_when_the_call_succeeds():
    with pytest.raises(AssertionError, match="expected AccessDeniedException but the call succeeded"):
        with expect_error("AccessDeniedException", quiet=True):
            pass


def test_expect_error_fails_on_another_code_and_chains_it():
    original = client_error("AccessDeniedException")
    with pytest.raises(
        AssertionError, match="expected InvalidCiphertextException but got AccessDeniedException"
    ) as info:
        with expect_error("InvalidCiphertextException", quiet=True):
            raise original
    assert info.value.__cause__ is original


def test_expect_error_accepts_any_of_several_codes():
    with expect_error("NotFoundException", "KMSInvalidStateException", quiet=True) as caught:
        raise client_error("KMSInvalidStateException")
    assert caught.code == "KMSInvalidStateException"


def test_expect_error_matches_class_names_bases_and_code_attributes():
    class Base(Exception):
        pass

    class Special(Base):
        pass

    with expect_error("Base", quiet=True) as caught:
        raise Special("x")
    assert caught.code == "Special"

    class Coded(Exception):
        code = "ThrottlingException"

    with expect_error("ThrottlingException", quiet=True):
        raise Coded()

    from cryptography.exceptions import InvalidTag

    with expect_error("InvalidTag", quiet=True):
        raise InvalidTag()


def test_expect_error_does_not_swallow_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt):
        with expect_error("KeyboardInterrupt", quiet=True):
            raise KeyboardInterrupt


def test_expect_error_needs_a_code():
    with pytest.raises(ValueError):
        with expect_error():
            pass


def test_expect_error_with_real_kms(moto_workshop):
    kms = moto_workshop.client("kms")
    key_id = kms.create_key(Description="test_display")["KeyMetadata"]["KeyId"]
    with expect_error("ValidationException", quiet=True) as caught:
        kms.encrypt(KeyId=key_id, Plaintext=b"x" * 4097)
    assert "4096" in caught.message
    with pytest.raises(AssertionError, match="succeeded"):
        with expect_error("NotFoundException", quiet=True):
            kms.list_keys()


# --- SVG ---------------------------------------------------------------------------------


def _svg_ok(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    title, desc = root.find(f"{ns}title"), root.find(f"{ns}desc")
    assert title is not None and title.text and desc is not None and desc.text
    assert root.get("role") == "img"
    ids = root.get("aria-labelledby").split()
    assert ids == [title.get("id"), desc.get("id")]
    return root


@pytest.mark.parametrize("step", [None, "generate", "encrypt", "store", "decrypt"])
def test_envelope_diagram(step):
    diagram = envelope_diagram(step)
    _svg_ok(diagram._repr_svg_())
    for label in ("KMS key", "Data key", "Encrypted data key", "Ciphertext"):
        assert label in diagram.svg
    assert diagram.svg in diagram._repr_html_()
    assert "at 0x" not in repr(diagram) and repr(diagram).startswith("[diagram]")
    if step:
        assert "#c2410c" in diagram.svg  # something is highlighted


def test_diagram_ids_are_unique_and_steps_validated():
    a, b = envelope_diagram("generate"), envelope_diagram("generate")
    assert re.search(r'id="([^"]+)-title"', a.svg).group(1) != re.search(r'id="([^"]+)-title"', b.svg).group(1)
    with pytest.raises(ValueError):
        envelope_diagram("explode")
    with pytest.raises(ValueError):
        key_lifecycle_diagram("Sleeping")


def test_other_diagrams():
    _svg_ok(direct_diagram("encrypt").svg)
    _svg_ok(direct_diagram("decrypt").svg)
    lifecycle = key_lifecycle_diagram("PendingDeletion")
    _svg_ok(lifecycle.svg)
    assert "now PendingDeletion" in lifecycle.title


# --- bytes view --------------------------------------------------------------------------


def test_byte_stats_tell_text_from_ciphertext():
    text = b"plain words, nothing hidden here " * 8
    noise = os.urandom(4096)
    t, n = display.byte_stats(text), display.byte_stats(noise)
    assert t["printable_share"] == 1.0 and n["printable_share"] < 0.5
    assert n["entropy_bits_per_byte"] > 7.5 > t["entropy_bits_per_byte"]
    assert sum(t["histogram"]) == len(text) and len(n["histogram"]) == 16
    assert display.byte_stats(b"")["length"] == 0


def test_hexdump():
    lines = display.hexdump(b"ABC" + bytes(range(100)), limit=32)
    assert lines[0].startswith("0000  41 42 43 00") and lines[0].endswith("|")
    assert lines[-1] == "... 71 more bytes"


def test_compare_bytes_marks_the_varying_side():
    view = compare_bytes(b"hello", os.urandom(40))
    html = view._repr_html_()
    assert html.count("<svg") == 2 and "kw-var" in html
    assert repr(view) == "[bytes] Plaintext: 5 bytes; Ciphertext: 40 bytes"
    # the plaintext side is not marked: it is compared by nbval
    plain_part = html.split("kms-bytes-label")[1]
    assert 'class="kw-var"' not in plain_part


def test_sanitizer_makes_ciphertext_views_comparable():
    """What tests/nbval-sanitize.cfg does to two views of different ciphertexts."""
    import configparser
    import pathlib

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(pathlib.Path(__file__).resolve().parents[1] / "nbval-sanitize.cfg")
    rules = [(cfg[s]["regex"], cfg[s]["replace"]) for s in cfg.sections()]

    def sanitize(text):
        for regex, repl in rules:
            text = re.sub(regex, repl, text)
        return text

    a = compare_bytes(b"same text", os.urandom(48))._repr_html_()
    b = compare_bytes(b"same text", os.urandom(48))._repr_html_()
    a, b = re.sub(r"kw-hist-\d+", "kw-hist-N", a), re.sub(r"kw-hist-\d+", "kw-hist-N", b)
    assert a != b and sanitize(a) == sanitize(b)
    assert sanitize(mask(os.urandom(32))) == "MASKED"


# --- CLI text and tables -----------------------------------------------------------------


def test_aws_cli_generate_data_key():
    cmd = aws_cli(
        "generate_data_key",
        {"KeyId": "alias/ImportedCMK", "KeySpec": "AES_256", "EncryptionContext": {"project": "workshop"}},
    )
    assert str(cmd) == (
        "aws kms generate-data-key --key-id alias/ImportedCMK --key-spec AES_256 --encryption-context project=workshop"
    )
    assert "$ aws kms generate-data-key" in cmd._repr_html_()


def test_aws_cli_blobs_files_and_queries():
    cmd = aws_cli(
        "decrypt",
        {"CiphertextBlob": b"\x01\x02", "EncryptionContext": {"a": "b", "c": "d"}},
        files={"CiphertextBlob": "datakeyEncrypted.bin"},
        output="text",
        query="Plaintext",
    )
    assert str(cmd) == (
        "aws kms decrypt --ciphertext-blob fileb://datakeyEncrypted.bin "
        "--encryption-context a=b,c=d --output text --query Plaintext"
    )
    assert "\\\n    --" in cmd.wrapped(40)
    assert str(aws_cli("encrypt", {"Plaintext": b"x"})) == "aws kms encrypt --plaintext fileb://plaintext.bin"
    odd = aws_cli("encrypt", {"EncryptionContext": {"who": "a b"}, "GrantTokens": ["t1", "t2"]})
    assert '--encryption-context \'{"who":"a b"}\'' in str(odd) and "--grant-tokens t1 t2" in str(odd)
    assert "--number-of-bytes 32" in str(aws_cli("generate-random", {"NumberOfBytes": 32}))
    assert "--kms-key-id k" in str(aws_cli("create-volume", {"KMSKeyId": "k"}))


def test_response_table_masks_and_shortens():
    key, blob = os.urandom(32), os.urandom(184)
    table = response_table(
        {"Plaintext": key, "CiphertextBlob": blob, "KeyId": "arn:k", "ResponseMetadata": {"RequestId": "r"}}
    )
    text, html = repr(table), table._repr_html_()
    for shown in (text, html):
        assert base64.b64encode(key).decode() not in shown
        assert base64.b64encode(blob).decode() not in shown
        assert "ResponseMetadata" not in shown and "(184 bytes)" in shown and "masked" in shown
    noted = response_table({"KeyId": "k"}, notes={"KeyId": "which key"})
    assert "which key" in noted._repr_html_() and "What it is" in noted._repr_html_()


def test_table_of_a_dict():
    t = display.table({"a": 1, "b": "two"}, caption="cap")
    assert repr(t) == "cap\na | 1\nb | two"
    assert "<caption" in t._repr_html_()


# --- themes, wrapping, pictures ----------------------------------------------------------

from workshop_helpers.checks.result import hint, passed  # noqa: E402
from workshop_helpers.display.sse_cse import ebs_diagram, sdk_message_diagram  # noqa: E402
from workshop_helpers.display.trail import TrailTable  # noqa: E402

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
_TRAIL = [
    {
        "eventName": "Decrypt",
        "eventTime": "2026-01-01T00:00:00Z",
        "simulated": True,
        "userAgent": "ec2.amazonaws.com",
        "requestParameters": {
            "keyId": KEY_ARN,
            "encryptionContext": {"aws:s3:arn": "arn:aws:s3:::kms-workshop-bucket/samplesecret.txt"},
        },
    },
    {"eventName": "Encrypt", "errorCode": "AccessDeniedException", "errorMessage": "denied", "requestParameters": None},
]


def _every_output() -> dict[str, str]:
    """The HTML of every kind of output workshop_helpers.display and checks.result make."""
    caught = display.CaughtError(("X",))
    caught._catch(client_error("X", "m"))
    out = {
        "direct": direct_diagram()._repr_html_(),
        "direct-decrypt": direct_diagram("decrypt")._repr_html_(),
        "lifecycle": key_lifecycle_diagram("Enabled")._repr_html_(),
        "sdk": sdk_message_diagram(message_length=10, highlight="keys")._repr_html_(),
        "bytes": compare_bytes(b"text", os.urandom(40))._repr_html_(),
        "cli": aws_cli("encrypt", {"KeyId": "k"})._repr_html_(),
        "error": caught._repr_html_(),
        "table": response_table({"KeyId": KEY_ARN})._repr_html_(),
        "trail": TrailTable(_TRAIL).html(),
        "correct": passed("ok")._repr_html_(),
        "not-yet": hint("no")._repr_html_(),
    }
    for step in (None, "generate", "encrypt", "store", "decrypt"):
        out[f"envelope-{step}"] = envelope_diagram(step)._repr_html_()
    for step in (None, "create", "attach", "io", "detach"):
        out[f"ebs-{step}"] = ebs_diagram(step)._repr_html_()
    return out


# a theme variable with its fallback: var(--jp-content-font-color1, #111827)
_THEMED = re.compile(r"var\(--jp-[\w-]+,\s*#[0-9a-fA-F]{3,8}\)")
_HEX_COLOUR = re.compile(r"(?<![&\w])#[0-9a-fA-F]{3,8}\b")


@pytest.mark.parametrize("name", sorted(_every_output()))
def test_outputs_take_their_colours_from_the_theme(name):
    html = _every_output()[name]
    bare = _HEX_COLOUR.findall(_THEMED.sub("", html))
    assert not bare, f"{name}: colours without a JupyterLab theme variable: {bare}"
    # no presentation attribute fixes a colour either (SVG fill="#111" ignores the theme)
    assert not re.search(r'\b(fill|stroke|color)="(?!none|url)', html), name
    for text in re.findall(r"<text\b[^>]*>", html):
        assert "var(--jp-content-font-color1" in text, f"{name}: {text}"


def _theme_colours(theme: str) -> dict[str, str]:
    import pathlib

    css = pathlib.Path(__file__).resolve().parents[2] / (
        f".venv/share/jupyter/lab/themes/@jupyterlab/theme-{theme}-extension/index.css"
    )
    if not css.is_file():
        pytest.skip("JupyterLab's theme CSS is not installed")
    found = {}
    for name, value in re.findall(r"(--jp-[\w-]+):\s*([^;}]+)", css.read_text()):
        fallback = re.search(r"#[0-9a-fA-F]{3,6}\b|\bwhite\b", value)
        found.setdefault(name, fallback.group(0) if fallback else value.strip())
    return found


def _luminance(colour: str) -> float:
    colour = {"white": "#ffffff"}.get(colour, colour).lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_colours_for_meaning_keep_their_contrast_in_both_themes(theme):
    """The variables the outputs use, resolved as JupyterLab Light and Dark define them."""
    from workshop_helpers.display import svg

    colours = _theme_colours(theme)
    text = colours["--jp-content-font-color0"]  # font-color1 is color0 at 87% (Light) or 100%
    for background in ("--jp-layout-color0", "--jp-layout-color1"):
        bg = colours[background]
        assert _contrast(text, bg) >= 4.5
        # strokes and borders that carry meaning: WCAG's 3:1 for graphics
        for var in re.findall(
            r"var\((--jp-[\w-]+)", svg.HI + svg.BRAND + hint("x")._repr_html_() + passed("x")._repr_html_()
        ):
            if var.startswith("--jp-content-font"):
                continue
            assert _contrast(colours[var], bg) >= 3, (theme, var, background)


def test_hex_view_never_breaks_a_row():
    html = compare_bytes(b"x" * 40, os.urandom(64))._repr_html_()
    styles = re.findall(r"<pre [^>]*style='([^']*)'", html)
    # 40 bytes: 5 half rows; 64 bytes: 8, each marked as varying on the ciphertext side
    assert html.count('<pre class="kw-var"') == 8 and "<h4" not in html  # no heading
    assert html.count("tabindex='0'") == 2  # a scrolled dump can be reached from the keyboard
    assert len(styles) == 13
    for style in styles:
        assert "white-space:pre;" in style
        assert "pre-wrap" not in style and "break-all" not in style


def test_trail_breaks_arns_only_after_colons_and_slashes():
    html = TrailTable(_TRAIL).html()
    assert "break-all" not in html and "pre-wrap" not in html
    plain = re.sub(r"<span style='white-space:nowrap'>([^<]*)</span>", r"\1", html)
    assert "arn:<wbr>aws:<wbr>s3:<wbr>:<wbr>:<wbr>kms-workshop-bucket/<wbr>samplesecret.txt" in plain
    # the parts between separators never break (not even at their hyphens)
    assert "<span style='white-space:nowrap'>kms-workshop-bucket</span>/<wbr>" in html
    table_html = response_table({"KeyId": KEY_ARN, "CiphertextBlob": os.urandom(32)})._repr_html_()
    assert "key</span>/<wbr><span" in table_html and "break-all" not in table_html


def _segments(svg: str):
    """(x1, y1, x2, y2) of every straight line and path segment in `svg`."""
    for x1, y1, x2, y2 in re.findall(r'<line x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)"', svg):
        yield float(x1), float(y1), float(x2), float(y2)
    for d in re.findall(r'<path d="([^"]+)"', svg):
        points = [tuple(map(float, p.split(","))) for p in re.findall(r"[\d.]+,[\d.]+", d)]
        for (ax, ay), (bx, by) in zip(points, points[1:]):
            yield ax, ay, bx, by


def _crosses(segment, box) -> bool:
    x1, y1, x2, y2 = segment
    left, top, right, bottom = box
    for i in range(101):
        x, y = x1 + (x2 - x1) * i / 100, y1 + (y2 - y1) * i / 100
        if left <= x <= right and top <= y <= bottom:
            return True
    return False


@pytest.mark.parametrize("step", [None, "create", "attach", "io", "detach"])
def test_ebs_diagram_numbers_each_step_once_and_keeps_lines_off_titles(step):
    diagram = ebs_diagram(step)
    _svg_ok(diagram.svg)
    texts = re.findall(r"<text [^>]*>([^<]*)</text>", diagram.svg)
    numbers = [t.split()[0] for t in texts if re.match(r"\d ", t)]
    assert sorted(numbers) == ["1", "2", "3", "4", "5"]
    for title in ("AWS KMS", "EBS volume", "EC2 host (hypervisor)"):
        x, y, anchor = re.search(
            rf'<text x="([\d.]+)" y="([\d.]+)" text-anchor="(\w+)"[^>]*>{re.escape(title)}</text>', diagram.svg
        ).groups()
        width = len(title) * 8  # 13px bold: at most 8px a character
        left = float(x) - (width / 2 if anchor == "middle" else 0)
        box = (left, float(y) - 13, left + width, float(y) + 3)
        assert not any(_crosses(s, box) for s in _segments(diagram.svg)), title
    # the host encrypts: the encrypt/decrypt arrows join the host's key to the blocks, and the
    # instance exchanges only plaintext with the host
    assert "4 encrypt" in texts and "plaintext" in texts and "Your instance" in texts
    assert "hypervisor" in diagram.desc or step is not None


def test_direct_diagram_captions_differ_and_labels_stay_off_borders():
    enc, dec = direct_diagram("encrypt"), direct_diagram("decrypt")
    assert enc.desc != dec.desc and dec.desc.startswith("Decrypt")
    for diagram in (enc, dec):
        for x in re.findall(r'<text x="([\d.]+)"[^>]*font-weight="700"[^>]*>(?:Encrypt|Decrypt)<', diagram.svg):
            assert not 250 - 30 < float(x) < 250 + 30 and not 450 - 30 < float(x) < 450 + 30  # KMS border


def test_every_svg_has_a_text_alternative():
    for _name, html in _every_output().items():
        for svg in re.findall(r"<svg\b.*?</svg>", html, flags=re.S):
            _svg_ok(svg)


def test_expected_error_box_reads_left_to_right_and_keeps_arns_whole():
    # JupyterLab right-aligns table cells: the box's values are left-aligned; a long message
    # wraps at its spaces, and its ARN only after ':' or '/' (never at the hyphens of eu-west-1).
    arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    error = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": f"User is not authorized on {arn}"}}, "Decrypt"
    )
    with display.expect_error("AccessDeniedException", quiet=True) as caught:
        raise error
    html = caught.html()
    assert html.count("text-align:left") >= 4 and "white-space:nowrap'>Error code</th>" in html
    assert "<span style='white-space:nowrap'>eu-west-1</span>:<wbr>" in html
    assert "User is not authorized on " in html


def test_trail_table_fits_long_values_without_breaking_them():
    from workshop_helpers.display.trail import TrailTable

    public_key = "A" * 40 + "xyz0123456789=="
    record = {
        "eventTime": "2026-01-01T10:11:12Z",
        "eventName": "Decrypt",
        "requestParameters": {"encryptionContext": {"aws-crypto-public-key": public_key}},
    }
    html = TrailTable([record]).html()
    assert html.count(public_key) == 1  # shown by its ends ...
    assert f'title="{public_key}"' in html and ">AAAAAAAAAA…6789==<" in html  # ... whole in the tooltip
    assert ">10:11:12Z</span>" in html and 'title="2026-01-01T10:11:12Z"' in html
