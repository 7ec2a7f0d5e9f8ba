"""A minimal OLE2 / Compound File Binary (version 3) writer for tests: ZEISS-layout files from scratch.

``olefile`` reads these files but cannot create them, so the tests write them here, following
[MS-CFB]: 512-byte sectors, streams under 4096 bytes in the mini stream (64-byte sectors), one
FAT of at most 109 sectors (files up to ~7 MB), siblings chained to the right (all black).
"""

from __future__ import annotations

import struct
from pathlib import Path

ENDOFCHAIN, FREESECT, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
SECTOR, MINI, CUTOFF = 512, 64, 4096


def _chain(start: int, n: int) -> list[int]:
    return [start + i + 1 for i in range(n - 1)] + [ENDOFCHAIN] if n else []


def _sectors(nbytes: int, size: int = SECTOR) -> int:
    return (nbytes + size - 1) // size


def write_ole(path: str | Path, streams: dict[str, bytes]) -> None:
    """Write an OLE2 file holding ``streams`` (``"Storage/Stream"`` names -> bytes)."""
    root: dict = {"name": "Root Entry", "type": 5, "children": {}, "data": b""}
    for key, data in streams.items():
        node = root
        *storages, name = key.split("/")
        for part in storages:
            node = node["children"].setdefault(part, {"name": part, "type": 1, "children": {}, "data": b""})
        node["children"][name] = {"name": name, "type": 2, "children": {}, "data": bytes(data)}
    entries: list[dict] = []

    def add(node: dict) -> None:
        node["id"] = len(entries)
        entries.append(node)
        for child in node["children"].values():
            add(child)

    add(root)
    for e in entries:
        kids = sorted(e["children"].values(), key=lambda c: (len(c["name"]), c["name"].upper()))
        e["child"] = kids[0]["id"] if kids else NOSTREAM
        for a, b in zip(kids, kids[1:], strict=False):
            a["right"] = b["id"]
    mini, minifat, big = bytearray(), [], []
    for e in entries:
        if e["type"] != 2:
            continue
        if len(e["data"]) < CUTOFF:
            n = _sectors(len(e["data"]), MINI)
            e["start"] = len(mini) // MINI if n else ENDOFCHAIN
            minifat += _chain(len(mini) // MINI, n)
            mini += e["data"] + b"\0" * (n * MINI - len(e["data"]))
        else:
            big.append(e)
    ndir = _sectors(128 * len(entries))
    nminifat = _sectors(4 * len(minifat))
    nmini = _sectors(len(mini))
    nbig = [_sectors(len(e["data"])) for e in big]
    ndata = ndir + nminifat + nmini + sum(nbig)
    nfat = 1
    while nfat * (SECTOR // 4) < ndata + nfat:
        nfat += 1
    if nfat > 109:
        raise ValueError("too large for this test writer (one FAT of <= 109 sectors)")
    fat: list[int] = []
    sec = 0
    dir_start = sec
    fat += _chain(sec, ndir)
    sec += ndir
    minifat_start = sec if nminifat else ENDOFCHAIN
    fat += _chain(sec, nminifat)
    sec += nminifat
    root["start"], root["size"] = (sec if nmini else ENDOFCHAIN), len(mini)
    fat += _chain(sec, nmini)
    sec += nmini
    for e, n in zip(big, nbig, strict=True):
        e["start"] = sec
        fat += _chain(sec, n)
        sec += n
    fat_start = sec
    fat += [FATSECT] * nfat
    fat += [FREESECT] * (nfat * SECTOR // 4 - len(fat))

    header = bytearray(SECTOR)
    header[0:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<II", header, 44, nfat, dir_start)
    struct.pack_into("<I", header, 56, CUTOFF)
    struct.pack_into("<IIII", header, 60, minifat_start, nminifat, ENDOFCHAIN, 0)
    struct.pack_into("<109I", header, 76, *([fat_start + i for i in range(nfat)] + [FREESECT] * (109 - nfat)))

    directory = bytearray()
    for e in entries:
        entry = bytearray(128)
        name = e["name"].encode("utf-16-le") + b"\0\0"
        entry[: len(name)] = name
        struct.pack_into("<HBB", entry, 64, len(name), e["type"], 1)
        struct.pack_into("<III", entry, 68, NOSTREAM, e.get("right", NOSTREAM), e["child"])
        start = 0 if e["type"] == 1 else e.get("start", ENDOFCHAIN)
        struct.pack_into("<IQ", entry, 116, start, e.get("size", len(e["data"])))
        directory += entry
    while len(directory) % SECTOR:
        empty = bytearray(128)
        struct.pack_into("<III", empty, 68, NOSTREAM, NOSTREAM, NOSTREAM)
        directory += empty

    def padded(data: bytes, fill: bytes = b"\0") -> bytes:
        return bytes(data) + fill * ((-len(data)) % SECTOR)

    out = bytearray(header) + directory
    if nminifat:
        out += padded(struct.pack(f"<{len(minifat)}I", *minifat), b"\xff")
    out += padded(mini)
    for e in big:
        out += padded(e["data"])
    out += struct.pack(f"<{len(fat)}I", *fat)
    Path(path).write_bytes(bytes(out))


def write_txm(
    path: str | Path,
    volume,
    pixel_size_um: float | None,
    data_type: int | None = None,
    projections: bool = False,
) -> None:
    """A ZEISS-layout ``.txm`` (``.txrm`` with ``projections``): ImageInfo streams, one per slice."""
    import numpy as np

    volume = np.asarray(volume)
    n, h, w = volume.shape
    code = data_type or {np.dtype(np.uint16): 5, np.dtype(np.float32): 10}[volume.dtype]
    streams = {
        "Version": struct.pack("<f", 5.0),
        "ImageInfo/ImageWidth": struct.pack("<i", w),
        "ImageInfo/ImageHeight": struct.pack("<i", h),
        "ImageInfo/NoOfImages": struct.pack("<i", n),
        "ImageInfo/ImagesTaken": struct.pack("<i", n),
        "ImageInfo/DataType": struct.pack("<i", code),
    }
    if pixel_size_um is not None:
        streams["ImageInfo/PixelSize"] = struct.pack("<f", pixel_size_um)
    if projections:
        streams["ImageInfo/Angles"] = np.linspace(-90, 90, n, dtype="<f4").tobytes()
    for i, plane in enumerate(volume, start=1):
        streams[f"ImageData{(i + 99) // 100}/Image{i}"] = (
            np.ascontiguousarray(plane).astype(plane.dtype.newbyteorder("<")).tobytes()
        )
    write_ole(path, streams)
