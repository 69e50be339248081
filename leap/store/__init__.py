"""Object layer of the round store: write-once byte objects on a local folder or S3."""

from leap.store.base import ObjectStore
from leap.store.factory import open_store
from leap.store.local import LocalStore
from leap.store.s3 import S3Store
from leap.store.s3_options import S3Options

__all__ = ["LocalStore", "ObjectStore", "S3Options", "S3Store", "open_store"]
