#!/usr/bin/env python3
"""Writes the tables config/pyrepr_test.go checks PythonRepr against.

Run once with a real python3 (the committed tables came from 3.11.7,
Unicode 14.0.0): python3 gen.py
  cases.jsonl      one {"in_hex": <UTF-8 (surrogateescape) bytes>, "repr": repr(str)} per line
  nonprintable.txt the code point ranges str.isprintable() refuses, with
                   "Cn" when they are unassigned in this Python's Unicode
"""
import json
import sys
import unicodedata

samples = [
    "", "a", "it's", 'say "hi"', "both ' and \"", "a\nb", "tab\there", "cr\rlf\n",
    "back\\slash", "nul\x00", "bell\x07", "esc\x1b[0m", "del\x7f", "\x80\x9f",
    "nbsp\xa0", "soft\xadhyphen", "latin é ü ß", "ÿ", "Ā", "\u2028", "\u2029",
    "\u200b", "\u200d", "\u202e", "\ufeff", "\ufffd", "\uffff", "\ue000",
    "日本語", "emoji 😀", "\U0001f600\U000e0001", "\U0010ffff", "\U000f0000",
    "\u3000", "\u0378", "x\udcff", "\udc80abc", "quote'\\", "'\"'", "\"",
    "combining e\u0301", "arabic \u0627\u0644", "\u061c", "\u00ad", "\u180e",
    "registry.example/ns/app:1.0", "sha256:0000", "{braces}", "%s", "\u2066x\u2069",
]
# A run over every code point class boundary the rules care about.
for cp in list(range(0, 0x100)) + [0x370, 0x378, 0x1680, 0x2000, 0x200a, 0x2060, 0xd7ff, 0xe000, 0xf8ff,
                                     0xfdd0, 0xfff9, 0xfffe, 0x10000, 0x1d173, 0xe0000, 0xe007f, 0xf0000, 0x10fffd]:
    samples.append("<" + chr(cp) + ">")

with open("cases.jsonl", "w") as f:
    for s in samples:
        f.write(json.dumps({"in_hex": s.encode("utf-8", "surrogateescape").hex(), "repr": repr(s)}) + "\n")

with open("nonprintable.txt", "w") as f:
    f.write("# python %s unicode %s: first last [Cn]\n" % (sys.version.split()[0], unicodedata.unidata_version))
    start = None
    for cp in range(0x110001):
        np = cp <= 0x10FFFF and not (0xD800 <= cp <= 0xDFFF) and not chr(cp).isprintable()
        cn = np and unicodedata.category(chr(cp)) == "Cn"
        key = (np, cn)
        if start is not None and key != prev:
            if prev[0]:
                f.write("%x %x%s\n" % (start, cp - 1, " Cn" if prev[1] else ""))
            start = None
        if start is None:
            start, prev = cp, key
