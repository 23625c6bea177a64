"""Errors raised by storage drivers.

StorageError
├── ObjectNotFound         no object at that key
├── UploadNotFound         no upload with that id
└── UploadOffsetMismatch   an append that does not start where the upload ends
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class for storage driver failures."""


class ObjectNotFound(StorageError):
    """No object is stored under the key."""


class UploadNotFound(StorageError):
    """No upload with that id exists (never created, committed, or deleted)."""


class UploadOffsetMismatch(StorageError):
    """An append was asked at an offset other than the upload's current size."""

    def __init__(self, expected: int, given: int) -> None:
        super().__init__(f"upload is at offset {expected}, append asked for {given}")
        self.expected = expected
        self.given = given
