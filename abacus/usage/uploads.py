"""Files uploaded through the web, kept in PostgreSQL until the import job that reads them ends.

The web and the worker may run in separate containers with no shared disk; PostgreSQL is the
one store every process reaches. An upload is a row in `uploads` with its bytes in
`upload_chunks` of CHUNK_SIZE, written and read a chunk at a time, so a 1 GB export is never
held in memory. The import job deletes the upload when it ends, whatever the outcome;
`sweep` removes what a killed worker or a job nobody ran left behind, after KEEP.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

from sqlalchemy import delete, func, insert, select, update

from ..extensions import db
from ..models import Upload, UploadChunk

CHUNK_SIZE = 8 * 1024 * 1024
KEEP = timedelta(hours=24)  # far longer than an import may run (IMPORT_TIMEOUT: 3 h)


class UploadGone(LookupError):
    """The upload is no longer stored: imported already, or swept as too old."""


@dataclass(frozen=True)
class StoredUpload:
    id: str
    filename: str
    size: int


def store(stream: BinaryIO, filename: str) -> StoredUpload:
    """Copy `stream` into PostgreSQL, CHUNK_SIZE bytes at a time.

    One transaction of its own (not the request's session): a failure half-way stores nothing.
    """
    upload_id = uuid.uuid4().hex
    size = seq = 0
    with db.engine.begin() as conn:
        conn.execute(insert(Upload).values(id=upload_id, filename=filename))
        while chunk := stream.read(CHUNK_SIZE):
            conn.execute(insert(UploadChunk).values(upload_id=upload_id, seq=seq, data=chunk))
            size, seq = size + len(chunk), seq + 1
        conn.execute(update(Upload).where(Upload.id == upload_id).values(size=size))
    return StoredUpload(upload_id, filename, size)


def find(upload_id: str) -> StoredUpload:
    with db.engine.connect() as conn:
        row = conn.execute(select(Upload.filename, Upload.size)
                           .where(Upload.id == upload_id)).first()
    if row is None:
        raise UploadGone(f"the uploaded file is no longer stored (upload {upload_id}): uploads "
                         f"are kept for {KEEP.total_seconds() / 3600:g} h until imported; "
                         "upload it again")
    return StoredUpload(upload_id, row.filename, row.size)


def reader(upload_id: str) -> UploadReader:
    """The upload's bytes as a binary file (`name`, `size`); UploadGone when not stored."""
    return UploadReader(find(upload_id))


def delete_upload(upload_id: str) -> None:
    """Remove an upload and its chunks; nothing happens when it is gone already."""
    with db.engine.begin() as conn:
        conn.execute(delete(Upload).where(Upload.id == upload_id))


def sweep(keep: timedelta = KEEP) -> int:
    """Remove uploads older than `keep`; returns how many."""
    with db.engine.begin() as conn:
        return conn.execute(delete(Upload).where(Upload.created_at < func.now() - keep)).rowcount


class UploadReader(io.RawIOBase):
    """Reads a stored upload back one chunk at a time.

    Each chunk is fetched on a short connection of its own: the import's connection is busy
    streaming rows into COPY while it reads the file.
    """

    def __init__(self, upload: StoredUpload):
        super().__init__()
        self.upload = upload
        self.name, self.size = upload.filename, upload.size
        self._seq = 0
        self._done = 0  # bytes handed out
        self._chunk = memoryview(b"")

    def readable(self) -> bool:
        return True

    def rewind(self) -> UploadReader:
        """Back to the first byte (an import that reads the file a second time)."""
        self._seq, self._done, self._chunk = 0, 0, memoryview(b"")
        return self

    def readinto(self, buffer) -> int:
        if not self._chunk:
            if self._done >= self.size:
                return 0
            self._chunk = memoryview(self._fetch(self._seq))
            self._seq += 1
        n = min(len(buffer), len(self._chunk))
        buffer[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
        self._done += n
        return n

    def _fetch(self, seq: int) -> bytes:
        with db.engine.connect() as conn:
            data = conn.execute(select(UploadChunk.data).where(
                UploadChunk.upload_id == self.upload.id, UploadChunk.seq == seq)).scalar()
        if not data:  # removed while being read: never pass a cut-off file on as complete
            raise UploadGone(f"{self.name}: the uploaded file was removed while it was read "
                             f"(after {self._done} of {self.size} bytes)")
        return bytes(data)
