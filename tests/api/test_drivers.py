"""Every object-store option can be set, and settings reach the driver unchanged."""

from __future__ import annotations

import dataclasses

import pytest

from portside.config import Settings
from portside.storage.azure import AzureOptions
from portside.storage.s3 import S3Options


@pytest.mark.parametrize(("options", "prefix"), [(S3Options, "s3_"), (AzureOptions, "azure_")])
def test_each_driver_option_has_a_setting(options: type, prefix: str) -> None:
    fields = {field.name for field in dataclasses.fields(options)}
    assert set(Settings().section(prefix)) == fields


def test_settings_build_the_options() -> None:
    settings = Settings(s3_bucket="b", s3_part_size=8 << 20, s3_addressing_style="path")
    built = S3Options(**settings.section("s3_"))
    assert (built.bucket, built.part_size, built.addressing_style) == ("b", 8 << 20, "path")
