#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Describe a migration stream saved to a file, or extract guest RAM from it.

kvmig writes the stream QEMU lays out (docs/devel/migration/stream-format.rst):
a header, the configuration section, sections (START/PART/END of the live
"ram" section, FULL for devices) each closed by a footer, EOF, then the
vmdesc JSON that describes every device section's fields.  Save one with
`migrate file:PATH` or `migrate exec:cat > PATH`.

    analyze-migration.py FILE                 summary
    analyze-migration.py --json FILE          everything, as one JSON object
    analyze-migration.py --extract DIR FILE   guest RAM as DIR/<block>.bin

A malformed or truncated file gives one line on stderr, naming the byte
offset where reading failed, and exit status 1.  Python 3 standard library
only.
"""

import argparse
import collections
import json
import os
import sys
import zlib

FILE_MAGIC = 0x5145564D             # "QEVM"
FILE_VERSION = 3

VM_EOF = 0x00
VM_SECTION_START = 0x01
VM_SECTION_PART = 0x02
VM_SECTION_END = 0x03
VM_SECTION_FULL = 0x04
VM_SUBSECTION = 0x05
VM_VMDESCRIPTION = 0x06
VM_CONFIGURATION = 0x07
VM_COMMAND = 0x08
VM_SECTION_FOOTER = 0x7E

SECTION_KINDS = {
    VM_SECTION_START: "START",
    VM_SECTION_PART: "PART",
    VM_SECTION_END: "END",
    VM_SECTION_FULL: "FULL",
}

RAM_FLAG_ZERO = 0x02
RAM_FLAG_MEM_SIZE = 0x04
RAM_FLAG_PAGE = 0x08
RAM_FLAG_EOS = 0x10
RAM_FLAG_CONTINUE = 0x20
RAM_FLAG_XBZRLE = 0x40
RAM_FLAG_HOOK = 0x80
RAM_FLAG_COMPRESS_PAGE = 0x100
RAM_FLAG_MULTIFD_FLUSH = 0x200
RAM_FLAG_X_ZERO_RUN = 0x400         # kvmig extension: be64 count of zero pages

# The RAM record kinds, in the order the summary lists them.
RAM_KINDS = collections.OrderedDict([
    (RAM_FLAG_MEM_SIZE, "mem-size"),
    (RAM_FLAG_ZERO, "zero"),
    (RAM_FLAG_X_ZERO_RUN, "x-zero-run"),
    (RAM_FLAG_PAGE, "raw"),
    (RAM_FLAG_XBZRLE, "xbzrle"),
    (RAM_FLAG_COMPRESS_PAGE, "compressed"),
    (RAM_FLAG_MULTIFD_FLUSH, "multifd-flush"),
    (RAM_FLAG_EOS, "eos"),
])

RAM_SECTION_VERSION = 4
XBZRLE_ENCODING_FLAG = 0x01
ZLIB_PAGE_BOUND = 4110              # zlib's compressBound(4096)
VMDESC_MAX = 16 << 20               # what kvmig's loader accepts


class StreamError(Exception):
    """A malformed stream: where, and what was wrong."""

    def __init__(self, offset, message):
        super().__init__(message)
        self.offset = offset
        self.message = message


class Reader:
    """Big-endian reads from a file with the offset of every failure."""

    def __init__(self, f, size):
        self.f = f
        self.size = size

    def tell(self):
        return self.f.tell()

    def read(self, n, what):
        pos = self.f.tell()
        data = self.f.read(n)
        if len(data) != n:
            raise StreamError(pos, "unexpected end of file reading %s (%d bytes wanted, "
                              "%d left)" % (what, n, len(data)))
        return data

    def skip(self, n, what):
        pos = self.f.tell()
        if pos + n > self.size:
            raise StreamError(pos, "unexpected end of file reading %s (%d bytes wanted, "
                              "%d left)" % (what, n, self.size - pos))
        self.f.seek(n, os.SEEK_CUR)

    def u8(self, what):
        return self.read(1, what)[0]

    def be16(self, what):
        return int.from_bytes(self.read(2, what), "big")

    def be32(self, what):
        return int.from_bytes(self.read(4, what), "big")

    def be64(self, what):
        return int.from_bytes(self.read(8, what), "big")

    def peek_u8(self):
        pos = self.f.tell()
        b = self.f.read(1)
        self.f.seek(pos)
        return b[0] if b else None

    def idstr(self, what):
        n = self.u8(what + " length")
        raw = self.read(n, what)
        return raw.decode("utf-8", errors="backslashreplace")


def find_vmdesc(f, start, size):
    """Locate the vmdesc that ends the stream: EOF (0x00), 0x06, be32 length,
    then exactly that many bytes of JSON up to the end of the file.  Returns
    (offset of the 0x06 byte, length) or None.  Exact, not a guess: the
    length must reach precisely the end of the file."""
    tail_len = min(size - start, VMDESC_MAX + 6)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    i = len(tail) - 5
    while True:
        i = tail.rfind(b"\x06", 0, i + 1)
        if i < 1:
            return None
        n = int.from_bytes(tail[i + 1:i + 5], "big")
        if n == len(tail) - i - 5 and tail[i - 1] == VM_EOF and tail[i + 5:i + 6] == b"{":
            return size - tail_len + i, n
        i -= 1


def bitmap_set(bm, first, n):
    """Set bits [first, first + n) of a bytearray bitmap (LSB first)."""
    end = first + n
    while first < end and first & 7:
        bm[first >> 3] |= 1 << (first & 7)
        first += 1
    whole = (end - first) >> 3
    if whole:
        bm[first >> 3:(first >> 3) + whole] = b"\xff" * whole
        first += whole << 3
    while first < end:
        bm[first >> 3] |= 1 << (first & 7)
        first += 1


def bitmap_any(bm, first, n):
    """Is any bit of [first, first + n) set?"""
    end = first + n
    while first < end and first & 7:
        if bm[first >> 3] & (1 << (first & 7)):
            return True
        first += 1
    whole = (end - first) >> 3
    if whole and any(bm[first >> 3:(first >> 3) + whole]):
        return True
    first += whole << 3
    while first < end:
        if bm[first >> 3] & (1 << (first & 7)):
            return True
        first += 1
    return False


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if n == int(n) else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return str(n)


def safe_filename(name):
    s = name.strip("/").replace("/", "_").replace("\\", "_")
    if s in ("", ".", ".."):
        s = "block"
    return s + ".bin"


def xbzrle_decode(enc, page, offset):
    """Apply an XBZRLE encoding to @page (a bytearray) in place; the checks of
    kvmig's decoder (runs as ULEB128 of at most 2 bytes, no empty run but the
    first, nothing past the page).  Raises StreamError at @offset."""
    i = d = 0
    first = True
    n = len(enc)
    while i < n:
        for kind in ("zero run", "non-zero run"):
            if i >= n:
                raise StreamError(offset, "XBZRLE encoding ends after a zero run")
            length = enc[i] & 0x7F
            if enc[i] & 0x80:
                if i + 1 >= n or enc[i + 1] & 0x80:
                    raise StreamError(offset, "XBZRLE encoding: bad %s length" % kind)
                length |= enc[i + 1] << 7
                i += 2
            else:
                i += 1
            if length == 0 and not (kind == "zero run" and first):
                raise StreamError(offset, "XBZRLE encoding: empty %s" % kind)
            first = False
            if d + length > len(page):
                raise StreamError(offset, "XBZRLE encoding: %s past the end of the page" % kind)
            if kind == "non-zero run":
                if i + length > n:
                    raise StreamError(offset, "XBZRLE encoding: non-zero run past its end")
                page[d:d + length] = enc[i:i + length]
                i += length
            d += length


class Analyzer:
    def __init__(self, path, start=0, extract_dir=None):
        self.path = path
        self.start = start
        self.extract_dir = extract_dir
        self.f = open(path, "rb")
        self.size = os.fstat(self.f.fileno()).st_size
        self.r = Reader(self.f, self.size)
        self.out = collections.OrderedDict()
        self.sections = []              # every section record, in order
        self.live = {}                  # section id -> (idstr, instance, version)
        self.ram = None                 # the "ram" section's findings
        self.devices = []
        self.vmdesc = None
        self.vmdesc_devices = {}
        self.page_size = 4096
        self.files = {}

    # ---- top level ----

    def run(self):
        if self.start > self.size:
            raise StreamError(self.start, "offset is past the end of the file (%d bytes)"
                              % self.size)
        loc = find_vmdesc(self.f, self.start, self.size)
        if loc:
            self.load_vmdesc(*loc)
        self.f.seek(self.start)
        self.out["file"] = self.path
        self.out["size"] = self.size
        self.out["offset"] = self.start
        self.read_header()
        self.out["configuration"] = None
        self.out["sections"] = self.sections
        try:
            self.read_sections()
        finally:
            for f in self.files.values():
                f.close()
        self.out["ram"] = self.ram_result() if self.ram else None
        self.out["devices"] = self.devices
        self.out.move_to_end("eof_offset")
        self.out.move_to_end("vmdesc")
        return self.out

    def load_vmdesc(self, pos, length):
        self.f.seek(pos + 5)
        raw = self.f.read(length)
        try:
            desc = json.loads(raw.decode("utf-8"),
                              object_pairs_hook=collections.OrderedDict)
        except (UnicodeDecodeError, ValueError) as e:
            raise StreamError(pos + 5, "the vmdesc is not valid JSON: %s" % e)
        if not isinstance(desc, dict) or not isinstance(desc.get("devices", []), list):
            raise StreamError(pos + 5, "the vmdesc has no 'devices' list")
        self.vmdesc = desc
        self.vmdesc_offset = pos
        self.vmdesc_length = length
        self.page_size = int(desc.get("page_size", 4096))
        if self.page_size < 512 or self.page_size & (self.page_size - 1):
            raise StreamError(pos + 5, "the vmdesc gives page_size %d" % self.page_size)
        for dev in desc.get("devices", []):
            try:
                self.vmdesc_devices[(dev["name"], int(dev["instance_id"]))] = dev
            except (KeyError, TypeError, ValueError):
                raise StreamError(pos + 5, "a vmdesc device entry lacks name/instance_id")

    def read_header(self):
        r = self.r
        magic = r.be32("the file magic")
        if magic != FILE_MAGIC:
            raise StreamError(self.start, "not a migration stream: magic 0x%08x, expected "
                              "0x%08x ('QEVM')" % (magic, FILE_MAGIC))
        version = r.be32("the stream version")
        if version != FILE_VERSION:
            raise StreamError(self.start + 4, "stream version %d, expected %d"
                              % (version, FILE_VERSION))
        self.out["header"] = collections.OrderedDict(
            [("magic", "0x%08x" % magic), ("version", version)])

    def read_sections(self):
        r = self.r
        while True:
            off = r.tell()
            t = r.u8("a section type")
            if t == VM_EOF:
                self.out["eof_offset"] = off
                self.read_after_eof()
                return
            if t == VM_CONFIGURATION:
                self.read_configuration(off)
            elif t in (VM_SECTION_START, VM_SECTION_FULL):
                self.read_section_start(off, t)
            elif t in (VM_SECTION_PART, VM_SECTION_END):
                self.read_section_part(off, t)
            elif t == VM_COMMAND:
                cmd = r.be16("a command type")
                n = r.be16("a command length")
                r.skip(n, "command data")
                self.out.setdefault("commands", []).append(collections.OrderedDict(
                    [("offset", off), ("command", cmd), ("length", n)]))
            else:
                raise StreamError(off, "unknown section type 0x%02x" % t)

    def read_configuration(self, off):
        conf = collections.OrderedDict([("offset", off)])
        desc = self.vmdesc.get("configuration") if self.vmdesc else None
        if desc:
            # QEMU 8 and later describe it as a vmstate in the vmdesc
            conf["fields"] = self.read_vmsd(desc, "configuration")
            name = conf["fields"].get("name")
            if isinstance(name, str):
                conf["name"] = name
        else:
            n = self.r.be32("the machine name length")
            if n > 255:
                raise StreamError(off + 1, "configuration: machine name of %d bytes" % n)
            conf["name"] = self.r.read(n, "the machine name").decode("utf-8", "backslashreplace")
        conf["length"] = self.r.tell() - off
        self.out["configuration"] = conf

    def footer(self, sec):
        r = self.r
        off = r.tell()
        if r.peek_u8() != VM_SECTION_FOOTER:
            b = r.peek_u8()
            raise StreamError(off, "section '%s' (id %d): expected its footer (0x7e), found %s"
                              % (sec["idstr"], sec["id"],
                                 "the end of the file" if b is None else "0x%02x" % b))
        r.u8("a section footer")
        sid = r.be32("a section footer's id")
        if sid != sec["id"]:
            raise StreamError(off, "section '%s' (id %d): footer carries id %d"
                              % (sec["idstr"], sec["id"], sid))

    def read_section_start(self, off, t):
        r = self.r
        sid = r.be32("a section id")
        idstr = r.idstr("a section name")
        instance = r.be32("a section instance")
        version = r.be32("a section version")
        sec = collections.OrderedDict([
            ("offset", off), ("kind", SECTION_KINDS[t]), ("id", sid), ("idstr", idstr),
            ("instance", instance), ("version", version)])
        self.sections.append(sec)
        if t == VM_SECTION_START:
            if sid in self.live:
                raise StreamError(off, "section id %d started twice" % sid)
            self.live[sid] = (idstr, instance, version)
            self.read_live(sec)
        else:
            self.read_device(sec)
        self.footer(sec)
        sec["length"] = r.tell() - off

    def read_section_part(self, off, t):
        sid = self.r.be32("a section id")
        if sid not in self.live:
            raise StreamError(off, "%s record for section id %d, which was never started"
                              % (SECTION_KINDS[t], sid))
        idstr, instance, version = self.live[sid]
        sec = collections.OrderedDict([
            ("offset", off), ("kind", SECTION_KINDS[t]), ("id", sid), ("idstr", idstr),
            ("instance", instance), ("version", version)])
        self.sections.append(sec)
        self.read_live(sec)
        self.footer(sec)
        sec["length"] = self.r.tell() - off

    def read_live(self, sec):
        if (sec["idstr"], sec["instance"]) != ("ram", 0):
            raise StreamError(sec["offset"], "live section '%s' instance %d: no decoder for "
                              "it (this tool reads 'ram')" % (sec["idstr"], sec["instance"]))
        if sec["version"] != RAM_SECTION_VERSION:
            raise StreamError(sec["offset"], "RAM section version %d, expected %d"
                              % (sec["version"], RAM_SECTION_VERSION))
        self.read_ram(sec)

    def read_after_eof(self):
        r = self.r
        off = r.tell()
        b = r.peek_u8()
        if b is None:
            self.out["vmdesc"] = None
            return
        if b != VM_VMDESCRIPTION:
            raise StreamError(off, "unexpected byte 0x%02x after EOF" % b)
        if not self.vmdesc or self.vmdesc_offset != off:
            r.u8("the vmdesc marker")
            n = r.be32("the vmdesc length")
            r.skip(n, "the vmdesc")
            raise StreamError(off, "the vmdesc after EOF does not end the file")
        self.out["vmdesc"] = collections.OrderedDict([
            ("offset", off), ("length", self.vmdesc_length), ("json", self.vmdesc)])

    # ---- RAM ----

    def read_ram(self, sec):
        r = self.r
        ps = self.page_size
        if self.ram is None:
            self.ram = {
                "section_id": sec["id"], "blocks": collections.OrderedDict(),
                "records": collections.OrderedDict(
                    (name, [0, 0, 0]) for name in RAM_KINDS.values()),
                "parts": collections.Counter(),
            }
        ram = self.ram
        ram["parts"][sec["kind"]] += 1
        recs = ram["records"]
        block = ram.get("last_block")
        while True:
            off = r.tell()
            word = r.be64("a RAM record header")
            flags = word & (ps - 1)
            addr = word & ~(ps - 1)
            kind = flags & ~RAM_FLAG_CONTINUE
            if kind == RAM_FLAG_EOS:
                recs["eos"][0] += 1
                recs["eos"][2] += 8
                ram["last_block"] = block
                return
            if kind == RAM_FLAG_MEM_SIZE:
                self.read_mem_size(off, addr, flags)
                recs["mem-size"][0] += 1
                recs["mem-size"][2] += r.tell() - off
                continue
            if kind == RAM_FLAG_MULTIFD_FLUSH:
                recs["multifd-flush"][0] += 1
                recs["multifd-flush"][2] += 8
                continue
            if kind == RAM_FLAG_HOOK:
                raise StreamError(off, "RAM hook record (RDMA): not valid in a saved stream")
            if kind not in RAM_KINDS:
                raise StreamError(off, "unknown RAM record flags 0x%x" % flags)
            if not ram["blocks"]:
                raise StreamError(off, "page record before the MEM_SIZE record")
            if flags & RAM_FLAG_CONTINUE:
                if block is None:
                    raise StreamError(off, "CONTINUE record with no block before it")
            else:
                name = r.idstr("a RAM block name")
                block = ram["blocks"].get(name)
                if block is None:
                    raise StreamError(off, "page of RAM block '%s', which MEM_SIZE did not "
                                      "list" % name)
            if addr >= block["length"]:
                raise StreamError(off, "page offset 0x%x is beyond RAM block '%s' (0x%x bytes)"
                                  % (addr, block["name"], block["length"]))
            page = addr // ps
            npages = 1
            if kind == RAM_FLAG_ZERO:
                fill = r.u8("a zero page's fill byte")
                self.put_fill(block, page, 1, fill)
            elif kind == RAM_FLAG_X_ZERO_RUN:
                npages = r.be64("a zero run's length")
                if npages == 0 or npages > (block["length"] - addr) // ps:
                    raise StreamError(off, "zero run of %d pages at 0x%x does not fit in RAM "
                                      "block '%s' (0x%x bytes)"
                                      % (npages, addr, block["name"], block["length"]))
                self.put_fill(block, page, npages, 0)
            elif kind == RAM_FLAG_PAGE:
                if self.extract_dir:
                    self.put_page(block, page, r.read(ps, "page data"))
                else:
                    r.skip(ps, "page data")
            elif kind == RAM_FLAG_XBZRLE:
                enc_flag = r.u8("an XBZRLE encoding flag")
                if enc_flag != XBZRLE_ENCODING_FLAG:
                    raise StreamError(off, "XBZRLE page at 0x%x: encoding flag 0x%x, expected "
                                      "0x%x" % (addr, enc_flag, XBZRLE_ENCODING_FLAG))
                n = r.be16("an XBZRLE length")
                if n > ps:
                    raise StreamError(off, "XBZRLE page at 0x%x: %d bytes of encoding, more "
                                      "than a page" % (addr, n))
                if self.extract_dir:
                    self.put_xbzrle(block, page, r.read(n, "an XBZRLE encoding"), off)
                else:
                    r.skip(n, "an XBZRLE encoding")
            elif kind == RAM_FLAG_COMPRESS_PAGE:
                n = r.be32("a compressed page's length")
                if n > ZLIB_PAGE_BOUND:
                    raise StreamError(off, "compressed page at 0x%x: %d bytes, more than "
                                      "zlib's bound for a page" % (addr, n))
                if self.extract_dir:
                    data = r.read(n, "compressed page data")
                    try:
                        data = zlib.decompress(data)
                    except zlib.error as e:
                        raise StreamError(off, "compressed page at 0x%x: %s" % (addr, e))
                    if len(data) != ps:
                        raise StreamError(off, "compressed page at 0x%x inflates to %d bytes"
                                          % (addr, len(data)))
                    self.put_page(block, page, data)
                else:
                    r.skip(n, "compressed page data")
            name = RAM_KINDS[kind]
            recs[name][0] += 1
            recs[name][1] += npages
            recs[name][2] += r.tell() - off
            self.mark_sent(block, page, npages)

    def read_mem_size(self, off, total, flags):
        r = self.r
        ram = self.ram
        if flags & RAM_FLAG_CONTINUE:
            raise StreamError(off, "MEM_SIZE record with CONTINUE")
        if ram["blocks"]:
            raise StreamError(off, "a second MEM_SIZE record")
        ram["total"] = total
        seen = 0
        while seen < total:
            boff = r.tell()
            name = r.idstr("a RAM block name")
            length = r.be64("a RAM block length")
            if name in ram["blocks"]:
                raise StreamError(boff, "RAM block '%s' listed twice in MEM_SIZE" % name)
            if length % self.page_size or length == 0:
                raise StreamError(boff, "RAM block '%s' of 0x%x bytes: not a positive "
                                  "multiple of the page size" % (name, length))
            if seen + length > total:
                raise StreamError(boff, "RAM blocks add up to more than MEM_SIZE's 0x%x bytes"
                                  % total)
            seen += length
            npages = length // self.page_size
            block = {"name": name, "length": length, "pages": npages,
                     "sent": bytearray((npages + 7) // 8), "nonzero": None}
            ram["blocks"][name] = block
            if self.extract_dir:
                path = os.path.join(self.extract_dir, safe_filename(name))
                f = open(path, "w+b")
                f.truncate(length)
                self.files[name] = f
                block["path"] = path
                block["nonzero"] = bytearray((npages + 7) // 8)

    def mark_sent(self, block, page, n):
        bitmap_set(block["sent"], page, n)

    def put_page(self, block, page, data):
        f = self.files[block["name"]]
        f.seek(page * self.page_size)
        f.write(data)
        bm = block["nonzero"]
        bm[page >> 3] |= 1 << (page & 7)

    def put_fill(self, block, page, n, fill):
        if not self.extract_dir:
            return
        if fill:
            self.put_page(block, page, bytes([fill]) * self.page_size)
            return
        # the file is sparse: only a page written before needs zeroing
        bm = block["nonzero"]
        if not bitmap_any(bm, page, n):
            return
        f = self.files[block["name"]]
        for i in range(page, page + n):
            if bm[i >> 3] & (1 << (i & 7)):
                f.seek(i * self.page_size)
                f.write(bytes(self.page_size))
                bm[i >> 3] &= ~(1 << (i & 7))

    def put_xbzrle(self, block, page, enc, off):
        f = self.files[block["name"]]
        f.seek(page * self.page_size)
        buf = bytearray(f.read(self.page_size))
        buf.extend(bytes(self.page_size - len(buf)))
        xbzrle_decode(enc, buf, off)
        self.put_page(block, page, bytes(buf))

    def ram_result(self):
        ram = self.ram
        blocks = []
        for b in ram["blocks"].values():
            sent = sum(bin(x).count("1") for x in b["sent"])
            e = collections.OrderedDict([
                ("name", b["name"]), ("length", b["length"]), ("pages", b["pages"]),
                ("pages_sent", sent), ("pages_never_sent", b["pages"] - sent)])
            if "path" in b:
                e["extracted_to"] = b["path"]
            blocks.append(e)
        records = collections.OrderedDict()
        for name, (n, pages, nbytes) in ram["records"].items():
            records[name] = collections.OrderedDict(
                [("records", n), ("pages", pages), ("bytes", nbytes)])
        return collections.OrderedDict([
            ("section_id", ram["section_id"]),
            ("total", ram.get("total", 0)),
            ("section_records", collections.OrderedDict(
                (k, ram["parts"][k]) for k in ("START", "PART", "END"))),
            ("blocks", blocks),
            ("records", records),
        ])

    # ---- device sections, decoded with the vmdesc ----

    def read_device(self, sec):
        key = (sec["idstr"], sec["instance"])
        if self.vmdesc is None:
            raise StreamError(sec["offset"], "cannot decode device section '%s': the file "
                              "(%d bytes) does not end with the vmdesc JSON that describes it "
                              "(truncated?)" % (sec["idstr"], self.size))
        desc = self.vmdesc_devices.get(key)
        if desc is None:
            raise StreamError(sec["offset"], "device section '%s' instance %d is not in the "
                              "vmdesc" % key)
        dev = collections.OrderedDict([
            ("idstr", sec["idstr"]), ("instance", sec["instance"]), ("section_id", sec["id"]),
            ("offset", sec["offset"]), ("vmsd_name", desc.get("vmsd_name", sec["idstr"])),
            ("version", sec["version"])])
        dev["fields"] = self.read_vmsd(desc, sec["idstr"])
        self.devices.append(dev)

    def read_vmsd(self, desc, where):
        r = self.r
        values = collections.OrderedDict()
        fields = desc.get("fields", [])
        if not isinstance(fields, list):
            raise StreamError(r.tell(), "vmdesc of '%s': 'fields' is not a list" % where)
        for field in fields:
            try:
                name = field["name"]
                count = int(field.get("array_len", 1))
            except (KeyError, TypeError, ValueError):
                raise StreamError(r.tell(), "vmdesc of '%s': a field without a name" % where)
            path = "%s.%s" % (where, name)
            vals = [self.read_field(field, path) for _ in range(count)]
            value = vals if "array_len" in field else vals[0]
            if name in values:
                # QEMU splits arrays around NULL pointers into several entries
                prev = values[name]
                values[name] = (prev if isinstance(prev, list) else [prev]) + \
                    (value if isinstance(value, list) else [value])
            else:
                values[name] = value
        for sub in desc.get("subsections", []):
            off = r.tell()
            mark = r.u8("a subsection marker of '%s'" % where)
            if mark != VM_SUBSECTION:
                raise StreamError(off, "'%s': expected subsection '%s' (0x05), found 0x%02x"
                                  % (where, sub.get("vmsd_name", "?"), mark))
            name = r.idstr("a subsection name")
            version = r.be32("a subsection version")
            if name != sub.get("vmsd_name", name):
                raise StreamError(off, "'%s': subsection '%s' where the vmdesc has '%s'"
                                  % (where, name, sub.get("vmsd_name")))
            values[name] = self.read_vmsd(sub, name)
            values[name]["(version)"] = version
        return values

    def read_field(self, field, path):
        r = self.r
        ftype = field.get("type", "unknown")
        what = "field '%s'" % path
        if ftype == "struct":
            if not isinstance(field.get("struct"), dict):
                raise StreamError(r.tell(), "vmdesc of '%s': struct without a description"
                                  % path)
            return self.read_vmsd(field["struct"], path)
        if ftype == "capability":
            return r.idstr(what)
        try:
            size = int(field["size"])
        except (KeyError, TypeError, ValueError):
            raise StreamError(r.tell(), "vmdesc of '%s': no size" % path)
        if size < 0:
            raise StreamError(r.tell(), "vmdesc of '%s': size %d" % (path, size))
        data = r.read(size, what)
        if ftype == "bool":
            return data != bytes(size)
        if ftype.startswith("uint") and ftype.split()[0][4:].isdigit():
            return int.from_bytes(data, "big")
        if ftype.startswith("int") and ftype.split()[0][3:].isdigit():
            return int.from_bytes(data, "little" if ftype.endswith(" le") else "big",
                                  signed=True)
        return data.hex()

# ---- output ----


def printable(hexstr):
    try:
        raw = bytes.fromhex(hexstr)
    except ValueError:
        return None
    if raw and all(32 <= c < 127 for c in raw):
        return raw.decode("ascii")
    return None


def fmt_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return "%d (0x%x)" % (v, v) if v > 9 else str(v)
    if isinstance(v, str):
        text = printable(v)
        if text is not None:
            return repr(text)
        if len(v) > 64:
            return "%s... (%d bytes)" % (v[:64], len(v) // 2)
        return v if v else "(empty)"
    if isinstance(v, list):
        items = [fmt_value(x) for x in v[:8]]
        more = ", ... (%d)" % len(v) if len(v) > 8 else ""
        return "[" + ", ".join(items) + more + "]"
    return str(v)


def print_fields(values, indent):
    for name, v in values.items():
        if isinstance(v, dict):
            print("%s%s:" % (indent, name))
            print_fields(v, indent + "  ")
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, x in enumerate(v):
                print("%s%s[%d]:" % (indent, name, i))
                print_fields(x, indent + "  ")
        else:
            print("%s%s = %s" % (indent, name, fmt_value(v)))


def print_summary(res):
    print("file: %s (%d bytes%s)" % (res["file"], res["size"],
                                     ", stream at offset %d" % res["offset"]
                                     if res["offset"] else ""))
    h = res["header"]
    print("header: magic %s ('QEVM'), version %d" % (h["magic"], h["version"]))
    conf = res.get("configuration")
    if conf:
        print("configuration: machine %r (%d bytes at 0x%x)"
              % (conf.get("name", "?"), conf["length"], conf["offset"]))
    print()
    print("sections:")
    print("  %-10s %-5s %4s  %-16s %4s %3s %12s" % ("offset", "kind", "id", "idstr",
                                                     "inst", "ver", "bytes"))
    rows = [(s["offset"], "  0x%08x %-5s %4d  %-16s %4d %3d %12d"
             % (s["offset"], s["kind"], s["id"], s["idstr"], s["instance"], s["version"],
                s["length"])) for s in res["sections"]]
    rows += [(c["offset"], "  0x%08x COMMAND 0x%04x, %d bytes of payload"
              % (c["offset"], c["command"], c["length"])) for c in res.get("commands", [])]
    for _, line in sorted(rows):
        print(line)
    print("  0x%08x EOF" % res["eof_offset"])
    ram = res.get("ram")
    if ram:
        sr = ram["section_records"]
        print()
        print("RAM (section %d): %s in %d START, %d PART, %d END records"
              % (ram["section_id"], human(ram["total"]), sr["START"], sr["PART"], sr["END"]))
        print("  blocks:")
        for b in ram["blocks"]:
            line = "    %-16s 0x%012x (%s), %d pages, %d never sent" % (
                b["name"], b["length"], human(b["length"]), b["pages"],
                b["pages_never_sent"])
            if "extracted_to" in b:
                line += " -> %s" % b["extracted_to"]
            print(line)
        print("  %-16s %10s %10s %14s" % ("records", "count", "pages", "bytes"))
        tot = [0, 0, 0]
        for name, rec in ram["records"].items():
            if not rec["records"] and name in ("x-zero-run", "xbzrle", "compressed",
                                               "multifd-flush"):
                continue
            print("  %-16s %10d %10d %14d" % (name, rec["records"], rec["pages"],
                                              rec["bytes"]))
            tot = [tot[0] + rec["records"], tot[1] + rec["pages"], tot[2] + rec["bytes"]]
        print("  %-16s %10d %10d %14d" % ("total", tot[0], tot[1], tot[2]))
    if res["devices"]:
        print()
        print("devices:")
        for d in res["devices"]:
            print("  %s (instance %d, section %d, vmsd %s v%d, at 0x%x):"
                  % (d["idstr"], d["instance"], d["section_id"], d["vmsd_name"],
                     d["version"], d["offset"]))
            print_fields(d["fields"], "    ")
    print()
    vd = res.get("vmdesc")
    if vd:
        print("vmdesc: %d bytes of JSON at 0x%x (page_size %s, %d devices)"
              % (vd["length"], vd["offset"], vd["json"].get("page_size"),
                 len(vd["json"].get("devices", []))))
    else:
        print("vmdesc: none")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Describe a migration stream saved with 'migrate file:PATH' or "
                    "'migrate exec:cat > PATH', or extract its guest RAM.")
    ap.add_argument("file", help="the saved stream")
    ap.add_argument("--json", action="store_true", help="print everything as one JSON object")
    ap.add_argument("--extract", metavar="DIR",
                    help="write each RAM block to DIR/<block>.bin (sparse)")
    ap.add_argument("--offset", type=int, default=0, metavar="N",
                    help="the stream starts at byte N (file:PATH,offset=N)")
    args = ap.parse_args(argv)
    prog = os.path.basename(sys.argv[0]) or "analyze-migration.py"

    try:
        if args.extract:
            os.makedirs(args.extract, exist_ok=True)
        an = Analyzer(args.file, args.offset, args.extract)
        res = an.run()
    except StreamError as e:
        print("%s: %s: at offset %d (0x%x): %s" % (prog, args.file, e.offset, e.offset,
                                                    e.message), file=sys.stderr)
        return 1
    except OSError as e:
        print("%s: %s: %s" % (prog, e.filename or args.file, e.strerror or e),
              file=sys.stderr)
        return 1
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        print()
    else:
        print_summary(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
