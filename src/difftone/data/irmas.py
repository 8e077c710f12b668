"""IRMAS training set: file names, download with md5 check, extraction.

Layout: ``IRMAS-TrainingData/<code>/[<code>][<drums>]?[<genre>]NNNN__K.wav`` where
``<drums>`` is ``dru``/``nod`` and ``<genre>`` one of :data:`GENRES`. Some names carry
an extra numeric prefix (``008__[cel][nod][cla]0058__1.wav``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from difftone.data.errors import DataError
from difftone.files import atomic_folder, atomic_path

log = logging.getLogger(__name__)

IRMAS_URL = "https://zenodo.org/record/1290750/files/IRMAS-TrainingData.zip?download=1"
IRMAS_MD5 = "4fd9f5ed5a18d8e2687e6360b5f60afe"
IRMAS_FOLDER = "IRMAS-TrainingData"
GENRES = ("cla", "cou_fol", "jaz_blu", "lat_sou", "pop_roc")
DRUM_TAGS = ("dru", "nod")

_NAME = re.compile(
    r"^(?:(?P<prefix>\d+)__)?\[(?P<instrument>[a-z]{3})\]"
    r"(?:\[(?P<drums>dru|nod)\])?"
    r"\[(?P<genre>[a-z_]+)\]"
    r"(?P<number>\d+)__(?P<excerpt>\d+)\.wav$"
)


@dataclass(frozen=True)
class ClipName:
    instrument: str
    drums: str | None  # "dru", "nod" or None
    genre: str
    number: int
    excerpt: int
    prefix: int | None = None

    @property
    def recording(self) -> str:
        """The recording the clip was cut from: IRMAS cuts several 3 s excerpts ``__K`` from one recording
        ``NNNN``, so every excerpt of one (prefix, instrument, drum tag, genre, NNNN) is one recording."""
        head = f"{self.prefix:03d}__" if self.prefix is not None else ""
        return f"{head}{self.instrument}-{self.drums or ''}-{self.genre}-{self.number:04d}"


def parse_name(name: str) -> ClipName | None:
    """Parse an IRMAS clip file name; ``None`` when it does not follow the IRMAS pattern."""
    m = _NAME.match(name)
    if m is None:
        return None
    return ClipName(
        m["instrument"],
        m["drums"],
        m["genre"],
        int(m["number"]),
        int(m["excerpt"]),
        int(m["prefix"]) if m["prefix"] else None,
    )


def format_name(instrument: str, genre: str, number: int, excerpt: int = 1, drums: str | None = None) -> str:
    """The IRMAS file name for these tags, e.g. ``[pia][cla]0001__1.wav``."""
    drum_tag = f"[{drums}]" if drums else ""
    return f"[{instrument}]{drum_tag}[{genre}]{number:04d}__{excerpt}.wav"


def md5sum(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: str | Path, md5: str | None, retries: int = 3, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` and verify its md5.

    The bytes go to a temporary file beside ``dest`` that is renamed only after the
    checksum matched, so no partial or wrong file is ever left under ``dest``.
    Network errors are retried with backoff; a checksum mismatch is not.
    """
    dest = Path(dest)
    if dest.is_file() and md5 and md5sum(dest) == md5:
        log.info("%s already present with md5 %s", dest, md5)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, retries + 1):
        try:
            return _download_once(url, dest, md5, timeout)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == retries:
                raise DataError(
                    f"cannot download {url} to {dest} after {retries} attempts: {exc}. "
                    "Check the network (run this rule on a node with internet) or set data.irmas_dir "
                    "to an existing IRMAS-TrainingData folder."
                ) from None
            wait = 2**attempt
            log.warning("download of %s failed (%s); retrying in %d s", url, exc, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def _download_once(url: str, dest: Path, md5: str | None, timeout: float) -> Path:
    h = hashlib.md5()
    with atomic_path(dest) as tmp:  # renamed onto dest only if the checksum matches
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = resp.headers.get("Content-Length")
            with tqdm(total=int(total) if total else None, unit="B", unit_scale=True, desc=dest.name) as bar:
                while block := resp.read(1 << 20):
                    out.write(block)
                    h.update(block)
                    bar.update(len(block))
        got = h.hexdigest()
        if md5 and got != md5:
            raise DataError(
                f"checksum mismatch for {url}: md5 {got}, expected {md5}. The download is corrupt or the "
                f"file changed; nothing was written to {dest}. Rerun to download again, or check data.irmas_url "
                "and data.irmas_md5."
            )
    log.info("downloaded %s to %s (md5 %s)", url, dest, got)
    return dest


def extract(zip_path: str | Path, dest: str | Path) -> Path:
    """Extract the IRMAS zip so that ``dest`` is the folder holding the instrument folders.

    Extraction happens in a temporary folder beside ``dest`` that is renamed at the end
    (:func:`difftone.files.atomic_folder`).
    """
    zip_path, dest = Path(zip_path), Path(dest)
    if dest.exists():
        raise DataError(f"{dest} already exists; delete it to extract {zip_path} again")
    with atomic_folder(dest) as out:
        unzipped = Path(tempfile.mkdtemp(dir=out, prefix=".unzipped-"))
        try:
            with zipfile.ZipFile(zip_path) as zf:
                members = zf.infolist()
                for member in tqdm(members, desc=f"extract {zip_path.name}", unit="file"):
                    zf.extract(member, unzipped)  # zipfile drops absolute and '..' components
        except zipfile.BadZipFile as exc:
            raise DataError(f"{zip_path}: not a valid zip file ({exc}); delete it and download again") from None
        top = [p for p in unzipped.iterdir() if not is_hidden(p)]
        # The zip's single top folder (IRMAS-TrainingData/) becomes dest; else the whole tree does.
        root = top[0] if len(top) == 1 and top[0].is_dir() else unzipped
        for child in list(root.iterdir()):
            child.rename(out / child.name)
        shutil.rmtree(unzipped)
    log.info("extracted %s to %s", zip_path, dest)
    return dest


def find_root(folder: str | Path) -> Path:
    """The folder holding the instrument folders: ``folder`` itself or its ``IRMAS-TrainingData`` child."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"{folder}: dataset folder does not exist; set data.irmas_dir to an existing IRMAS-TrainingData folder"
        )
    if (folder / IRMAS_FOLDER).is_dir():
        return folder / IRMAS_FOLDER
    return folder


def is_hidden(p: Path) -> bool:
    return p.name.startswith(".") or p.name.startswith("__MACOSX")
