"""What Sentry reads from an uploaded debug information file (``detect_dif_from_path`` with
symbolic): its format, architecture, debug and code ids, object kind and features.

ELF is read here as symbolic reads it (``symbolic-debuginfo/src/elf.rs``): the debug id is the
GNU build id (its first three UUID fields byte-swapped on little-endian files) or, without one,
the XOR of the first page of ``.text``; the kind comes from ``e_type`` (an executable without an
interpreter, or a library without ``.text``, is a ``dbg`` companion); features are ``symtab``
(a symbol table), ``debug`` (``.debug_info``), ``unwind`` (``.eh_frame``/``.debug_frame``).
Any other file (Mach-O, PE, PDB, Breakpad, WASM, ProGuard: formats Sentry reads but the fake does
not) is refused as Sentry refuses a file symbolic cannot open.
"""

from __future__ import annotations

import re
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator

# KNOWN_DIF_FORMATS (sentry.constants): the Content-Type each stored format gets
CONTENT_TYPES = {"elf": "application/x-elf-binary"}
UNSUPPORTED = "Unsupported debug information file: unsupported object file format"
INVALID_ELF = "Invalid debug information file: invalid ELF file"

_ARCHES = {3: "x86", 62: "x86_64", 183: "arm64", 40: "arm", 20: "ppc", 21: "ppc64"}
_MIPS = (8, 10)
_MIPS_64_FLAGS = 0x2000 | 0x4000
_KINDS = {0: "none", 1: "rel", 2: "exe", 3: "lib", 4: "dump"}
_PT_INTERP, _PT_NOTE = 3, 4
_SHT_PROGBITS, _SHT_SYMTAB, _SHT_NOTE, _SHT_DYNSYM, _SHT_MIPS_DWARF = 1, 2, 7, 11, 0x7000001E
_NT_GNU_BUILD_ID = 3
_SHF_COMPRESSED = 0x800
_PAGE = 4096
_MAX_NOTES = 4096  # notes read per file, in all its note segments and sections
_MAX_NAME = 256  # bytes looked through for the end of a section name
_DEBUG_ID = re.compile(r"^([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})"
                       r"(?:[-.]?([0-9a-f]{1,8}))?$")


class BadDif(ValueError):
    """A file Sentry refuses to store as a debug file; the message is Sentry's assemble detail."""


@dataclass
class DifInfo:
    file_format: str
    arch: str
    debug_id: str
    code_id: str | None
    kind: str | None
    features: list[str] = field(default_factory=list)

    @property
    def details(self) -> dict[str, Any]:
        """Sentry's ``data`` of a ProjectDebugFile."""
        data: dict[str, Any] = {"features": self.features}
        if self.kind is not None:
            data = {"type": self.kind, **data}
        return data


def normalize_debug_id(text: Any) -> str | None:
    """symbolic's ``normalize_debug_id``: a UUID (hyphens optional) with an optional age appendix
    (Breakpad's 33 hex digits, or ``<uuid>-<age>``), lower case, hyphenated; None if it is none."""
    if not isinstance(text, str):
        return None
    match = _DEBUG_ID.match(text.strip().lower())
    if match is None:
        return None
    base = "-".join(match.groups()[:5])
    appendix = int(match.group(6), 16) if match.group(6) else 0
    return f"{base}-{appendix:x}" if appendix else base


def _uuid_text(raw: bytes, little_endian: bool) -> str:
    data = bytearray(raw[:16].ljust(16, b"\0"))
    if little_endian:
        data[0:4] = data[0:4][::-1]
        data[4:6] = data[4:6][::-1]
        data[6:8] = data[6:8][::-1]
    return str(uuid.UUID(bytes=bytes(data)))


class _Elf:
    """Just the parts of an ELF file symbolic looks at; ``struct.error``/``IndexError`` when the
    headers point outside the file."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        if data[4] not in (1, 2) or data[5] not in (1, 2):
            raise ValueError("bad ELF identification")
        self.wide = data[4] == 2
        self.little = data[5] == 1
        self.end = "<" if self.little else ">"
        word = "Q" if self.wide else "I"
        (self.type, self.machine, _version, _entry, phoff, shoff, self.flags, _ehsize, phentsize, phnum,
         shentsize, shnum, shstrndx) = struct.unpack_from(f"{self.end}HHI{word}{word}{word}IHHHHHH", data, 16)
        self.segments = [self._segment(phoff + i * phentsize) for i in range(phnum)]
        self.sections = [self._section(shoff + i * shentsize) for i in range(shnum)]
        names = self.sections[shstrndx] if 0 < shstrndx < len(self.sections) else None
        self.names = [self._name(names, s["name"]) if names else "" for s in self.sections]

    def _segment(self, offset: int) -> dict[str, int]:
        if self.wide:
            p_type, _flags, p_offset, _vaddr, _paddr, filesz, _memsz, align = struct.unpack_from(
                f"{self.end}IIQQQQQQ", self.data, offset)
        else:
            p_type, p_offset, _vaddr, _paddr, filesz, _memsz, _flags, align = struct.unpack_from(
                f"{self.end}IIIIIIII", self.data, offset)
        return {"type": p_type, "offset": p_offset, "size": filesz, "align": align}

    def _section(self, offset: int) -> dict[str, int]:
        word = "Q" if self.wide else "I"
        name, sh_type, flags, _addr, sh_offset, size, _link, _info, _align, entsize = struct.unpack_from(
            f"{self.end}II{word}{word}{word}{word}II{word}{word}", self.data, offset)
        return {"name": name, "type": sh_type, "flags": flags, "offset": sh_offset, "size": size,
                "entsize": entsize}

    def _name(self, table: dict[str, int], offset: int) -> str:
        """A section's name, looked for in at most ``_MAX_NAME`` bytes (a longer one is cut: no
        section symbolic looks for has such a name), so a name table without NULs costs each of
        65535 sections little."""
        start, limit = table["offset"] + offset, table["offset"] + table["size"]
        end = self.data.find(b"\0", start, min(limit, start + _MAX_NAME))
        if end < 0:
            if limit <= start + _MAX_NAME:
                raise ValueError("unterminated section name")
            end = start + _MAX_NAME
        return self.data[start:end].decode("utf-8", "replace")

    def _notes(self, offset: int, size: int, align: int, budget: list[int]) -> Iterator[tuple[int, bytes, bytes]]:
        """The notes of one segment or section, read lazily; each note read takes one from ``budget``."""
        position, end = offset, min(offset + size, len(self.data))
        align = 8 if align == 8 else 4
        while position + 12 <= end and budget[0] > 0:
            budget[0] -= 1
            namesz, descsz, note_type = struct.unpack_from(f"{self.end}III", self.data, position)
            name_at = position + 12
            desc_at = name_at + -(-namesz // align) * align
            yield note_type, self.data[name_at:name_at + namesz], self.data[desc_at:desc_at + descsz]
            position = desc_at + -(-descsz // align) * align

    def build_id(self) -> bytes | None:
        """The GNU build id, from the PT_NOTE segments first, then the ``.note.gnu.build-id`` section.

        Each (offset, size, alignment) is read once however many headers name it, and no more than
        ``_MAX_NOTES`` notes in all: headers that all point at one run of zeros (12-byte empty notes)
        cost one pass, not one per header. A real file has a handful of notes."""
        places = [(s["offset"], s["size"], s["align"]) for s in self.segments if s["type"] == _PT_NOTE]
        places += [(s["offset"], s["size"], 4) for s, name in zip(self.sections, self.names)
                   if s["type"] == _SHT_NOTE and name == ".note.gnu.build-id"]
        budget = [_MAX_NOTES]
        for offset, size, align in dict.fromkeys(places):
            for note_type, name, desc in self._notes(offset, size, align, budget):
                if note_type == _NT_GNU_BUILD_ID and name.rstrip(b"\0") == b"GNU":
                    return desc
            if budget[0] <= 0:
                break
        return None

    def section(self, wanted: str) -> bytes | None:
        """symbolic's ``find_section``: a PROGBITS section by name without its ``.``/``.z`` prefix."""
        for header, name in zip(self.sections, self.names):
            if header["type"] not in (_SHT_PROGBITS, _SHT_MIPS_DWARF) or not name:
                continue
            if header["offset"] == 0:
                return None
            bare = name[2:] if name.startswith(".z") else name[1:]
            if bare == wanted:
                return self.data[header["offset"]:header["offset"] + header["size"]]
        return None

    def arch(self) -> str:
        if self.machine in _MIPS:
            return "mips64" if self.flags & _MIPS_64_FLAGS else "mips"
        return _ARCHES.get(self.machine, "unknown")

    def kind(self) -> str:
        kind = _KINDS.get(self.type, "other")
        if kind == "exe" and not any(s["type"] == _PT_INTERP for s in self.segments):
            return "dbg"
        if kind == "lib" and self.section("text") is None:
            return "dbg"
        return kind

    def features(self) -> list[str]:
        found = []
        if any(s["type"] in (_SHT_SYMTAB, _SHT_DYNSYM) and s["size"] >= max(s["entsize"], 1) for s in self.sections):
            found.append("symtab")
        if self.section("debug_info") is not None:
            found.append("debug")
        if self.section("eh_frame") is not None or self.section("debug_frame") is not None:
            found.append("unwind")
        return sorted(found)

    def debug_id(self, build_id: bytes | None) -> str:
        if build_id:
            return _uuid_text(build_id, self.little)
        text = self.section("text")
        if text is not None:
            digest = bytearray(16)
            for i, byte in enumerate(text[:_PAGE]):
                digest[i % 16] ^= byte
            return _uuid_text(bytes(digest), self.little)
        return str(uuid.UUID(int=0))


def _elf(data: bytes) -> DifInfo:
    try:
        elf = _Elf(data)
        build_id = elf.build_id()
        return DifInfo("elf", elf.arch(), elf.debug_id(build_id), build_id.hex() if build_id else None, elf.kind(),
                       elf.features())
    except (struct.error, IndexError, ValueError):
        raise BadDif(INVALID_ELF) from None


def detect(data: bytes, debug_id: str | None) -> DifInfo:
    """The debug file ``data`` holds; ``BadDif`` with Sentry's detail when it is none Sentry
    would store. The client's ``debug_id`` wins only where it agrees with the file's own (it may
    add an age), as in Sentry's ``DifMeta.from_object``."""
    if not data.startswith(b"\x7fELF"):
        raise BadDif(UNSUPPORTED)
    info = _elf(data)
    wanted = normalize_debug_id(debug_id)
    if wanted is not None and wanted[:36] == info.debug_id[:36]:
        info.debug_id = wanted
    return info
