import pytest

from imagehub.cli import UsageError
from imagehub.cli import parse_image_size_flag
from imagehub.spec import parse_image_size


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (7, (7, 7)),
        ("224", (224, 224)),
        ("224,192", (224, 192)),
        ("224x192", (224, 192)),
        ((8, 12), (8, 12)),
        ([5, 6], (5, 6)),
    ],
)
def test_parse_image_size_accepts_each_form(value, expected):
    assert parse_image_size(value) == expected, value


@pytest.mark.parametrize(
    "value", ["big", "0,3", "1,2,3", "", -1, 0, (1, 2, 3), (4, 0), 2.5]
)
def test_parse_image_size_names_value_and_form_when_invalid(value):
    with pytest.raises(ValueError) as info:
        parse_image_size(value, "size")
    message = str(info.value)
    assert message.startswith("size must be H,W"), message
    assert repr(value) in message, message


def test_parse_image_size_flag_raises_usage_error_naming_the_flag():
    with pytest.raises(UsageError, match="--image_size must be H,W.*'big'"):
        parse_image_size_flag("big")
