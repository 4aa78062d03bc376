#!/usr/bin/env python3
"""Generates Sources/EchordModels/Generated/*.swift from Schema/*.schema.

Each model gets: a struct with Swift names, a memberwise initializer, `Codable` (the reference
path for JSONDecoder) and `JSONReadable` (the fast path). Enums keep unknown raw values; bit sets
are OptionSets. `--check` exits 1 when the generated files are not up to date (CI runs it).

Schema syntax (indentation significant: members are indented by two spaces):

    /// Doc comment of the next declaration (one or more lines).
    type Name
      json_key Type          // doc     (Type: String Int Double Bool Snowflake Timestamp JSONValue
                                         Permissions, a schema type, or [Type])
      json_key? Type                     (optional, as Discord marks it `name?`: absent, or a value)
      json_key ?Type                     (nullable, as Discord marks it `?type`: present, may be null)
      json_key? ?Type                    (both: absent, null or a value)
      json_key Type @undocumented        (a key Discord sends but does not document: absent or a value)
      json_key Type @lenient             (documented as always present, but decoded as Optional
                                          because partial objects leave it out)
      json_key Type = value              (absent or null decodes as value: [], false, "", 0)
      json_key Type @partial             (the nested object is partial: its required keys may be missing)
      json_key Type @validate Other      (validated against Other's rules, e.g. a partial user as User)
      json_key? Type @indirect           (stored out of line; automatic for every field of a schema type)
      json_key Type @name swiftName      (overrides the derived camelCase name)
      include Other                      (the fields of Other, in order)
    shape Name                           (like type, but only validator rules: no Swift model)
    intenum Name
      caseName 0             // doc
    stringenum Name
      caseName "wire value"  // doc
    flags Name [string]                  (string: sent as a decimal string, like permissions)
      caseName 3             // doc      (the bit index)
    event EVENT_NAME caseName Type        // doc
    opcode NUMBER Shape                   (the `d` of a non-dispatch opcode, for the validator)

Every field of a type carries Discord's marks. The Swift property is Optional when the field is
optional, nullable, undocumented or lenient and has no default. Decoding is lenient (an Optional
accepts both an absent key and null); encoding follows the marks: a nil field that must be present
but may be null (`key ?Type`) is encoded as null, any other nil field (one that may be absent) is
left out. The same marks generate the rules of `PayloadValidator`
(Generated/PayloadRules.swift), which checks a payload against what Discord documents.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "Schema"
OUT = ROOT / "Sources" / "EchordModels" / "Generated"

SWIFT_KEYWORDS = {"default", "private", "public", "internal", "static", "protocol", "extension", "in",
                  "is", "as", "operator", "repeat", "where", "case", "func", "let", "var", "import",
                  "init", "subscript", "return", "if", "else", "for", "while", "switch", "self", "Type",
                  "class", "struct", "enum", "guard", "defer", "do", "try", "throw", "nil", "true", "false"}
PRIMITIVES = {"String", "Int", "Double", "Bool", "Snowflake", "Timestamp", "JSONValue", "UInt64"}


def key_hash(text):
    """JSONReader.keyHash: eight bytes at a time (little-endian, the last word zero-padded), then
    the length xored in."""
    data = text.encode()
    mask = 0xFFFFFFFFFFFFFFFF
    h = 0x9E3779B97F4A7C15
    for i in range(0, len(data), 8):
        h = ((h ^ int.from_bytes(data[i:i + 8], "little")) * 0xFF51AFD7ED558CCD) & mask
        h ^= h >> 32
    return h ^ len(data)


def slot_table(hashes):
    """For a type with enough keys, a multiplier and shift that give each key hash its own slot,
    `(hash * multiplier) >> shift` (a small integer the compiler turns into a jump table); None
    for a type with few keys (compared one by one). Deterministic: multipliers come from a fixed
    SplitMix64 sequence."""
    if len(hashes) < 8:
        return None
    mask = 0xFFFFFFFFFFFFFFFF
    bits = max(len(hashes) - 1, 1).bit_length() + 2
    state = 0x5EED
    while bits <= 12:
        for _ in range(4000):
            state = (state + 0x9E3779B97F4A7C15) & mask
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
            multiplier = (z ^ (z >> 31)) | 1
            slots = {((h * multiplier) & mask) >> (64 - bits) for h in hashes}
            if len(slots) == len(hashes):
                return multiplier, 64 - bits
        bits += 1
    return None


def camel(key):
    parts = [p for p in key.split("_") if p]
    out = []
    for i, p in enumerate(parts):
        low = p.lower()
        if low in ("id", "ids", "url", "urls") and i > 0:
            out.append({"id": "ID", "ids": "IDs", "url": "URL", "urls": "URLs"}[low])
        elif i == 0:
            out.append(low)
        else:
            out.append(low[:1].upper() + low[1:])
    return "".join(out)


def ident(name):
    return f"`{name}`" if name in SWIFT_KEYWORDS else name


class Field:
    def __init__(self, key, type_, doc_optional, nullable, default, name, indirect, doc, attrs):
        self.key, self.type, self.default = key, type_, default
        self.doc_optional, self.nullable = doc_optional, nullable
        self.undocumented, self.lenient = "undocumented" in attrs, "lenient" in attrs
        self.partial, self.validate_as = "partial" in attrs, attrs.get("validate")
        self.name, self.indirect, self.doc = name, indirect, doc
        # The Swift property is Optional when the key may be absent or null and has no default.
        self.optional = default is None and (doc_optional or nullable or self.undocumented or self.lenient)

    @property
    def swift_type(self):
        return self.type + ("?" if self.optional else "")

    @property
    def storage_type(self):
        t = f"Indirect<{self.type}>" if self.indirect else self.type
        return t + ("?" if self.optional else "")


class Decl:
    def __init__(self, kind, name, doc, options):
        self.kind, self.name, self.doc, self.options = kind, name, doc, options
        self.members = []


def parse(path, decls, events):
    doc = []
    current = None
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.rstrip()
        if not line.strip() or line.strip().startswith("#"):
            continue
        stripped = line.strip()
        if stripped.startswith("///"):
            doc.append(stripped[3:].strip())
            continue
        comment = ""
        if "//" in stripped and not stripped.startswith('"'):
            m = re.match(r'^(.*?)\s+//\s?(.*)$', stripped)
            if m:
                stripped, comment = m.group(1), m.group(2)
        words = stripped.split()
        where = f"{path.name}:{lineno}"
        if not line.startswith(" "):
            kind = words[0]
            if kind == "event":
                events.append((words[1], words[2], words[3], comment or " ".join(doc), path.stem))
                current = None
            elif kind == "opcode":
                events.append(("#op", words[1], words[2], comment, path.stem))
                current = None
            elif kind in ("type", "shape", "intenum", "stringenum", "flags"):
                current = Decl(kind, words[1], doc or ([comment] if comment else []), words[2:])
                current.file = path.stem
                if current.name in decls:
                    sys.exit(f"{where}: {current.name} declared twice")
                decls[current.name] = current
            else:
                sys.exit(f"{where}: unknown declaration {kind}")
            doc = []
            continue
        if current is None:
            sys.exit(f"{where}: member outside a declaration")
        if current.kind in ("type", "shape"):
            if words[0] == "include":
                current.members.append(("include", words[1]))
                doc = []
                continue
            key, type_ = words[0], words[1]
            if type_.endswith("?"):
                sys.exit(f"{where}: `Type?` is gone: mark the key `{key}?` (optional) or the type `?Type` (nullable)")
            doc_optional = key.endswith("?")
            key = key.rstrip("?")
            nullable = type_.startswith("?")
            type_ = type_.lstrip("?")
            default = None
            name = camel(key)
            indirect = False
            attrs = {}
            rest = words[2:]
            i = 0
            while i < len(rest):
                if rest[i] == "=":
                    default = rest[i + 1]
                    i += 2
                elif rest[i] == "@name":
                    name = rest[i + 1]
                    i += 2
                elif rest[i] == "@indirect":
                    indirect = True
                    i += 1
                elif rest[i] in ("@undocumented", "@lenient", "@partial"):
                    attrs[rest[i][1:]] = True
                    i += 1
                elif rest[i] == "@validate":
                    attrs["validate"] = rest[i + 1]
                    i += 2
                else:
                    sys.exit(f"{where}: cannot read {rest[i]}")
            if "undocumented" in attrs and (doc_optional or nullable or "lenient" in attrs):
                sys.exit(f"{where}: an undocumented key carries no marks of Discord's")
            if "lenient" in attrs and (doc_optional or nullable or default is not None):
                sys.exit(f"{where}: @lenient is for a required key without a default")
            if type_.startswith("[") and type_.endswith("]"):
                type_ = "[" + type_[1:-1] + "]"
            current.members.append(Field(key, type_, doc_optional, nullable, default, name,
                                         indirect, comment or " ".join(doc), attrs))
        else:
            current.members.append((words[0], " ".join(words[1:]), comment or " ".join(doc)))
        doc = []


def fields_of(decl, decls, seen=None):
    out = []
    for m in decl.members:
        if isinstance(m, tuple):
            other = decls.get(m[1])
            if other is None:
                sys.exit(f"{decl.name}: include of unknown type {m[1]}")
            out.extend(fields_of(other, decls))
        else:
            out = [f for f in out if f.key != m.key]
            out.append(m)
    return out


def doc_lines(lines, indent):
    if not lines:
        return ""
    return "".join(f"{indent}/// {l}".rstrip() + "\n" for l in lines)


def default_doc(field):
    return f"`{field.key}`."


def recursive_types(decls):
    graph = {}
    for d in decls.values():
        if d.kind == "type":
            graph[d.name] = {f.type.strip("[]") for f in fields_of(d, decls)} & set(decls)
    out = set()
    for start in graph:
        seen, stack = set(), list(graph[start])
        while stack:
            t = stack.pop()
            if t == start:
                out.add(start)
                break
            if t in seen or t not in graph:
                continue
            seen.add(t)
            stack.extend(graph[t])
    return out


def placeholder(field, decls):
    """A value a required field holds until it is read (nil when its type has none)."""
    if field.indirect:
        return None
    simple = {"Snowflake": "Snowflake(rawValue: 0)", "String": '""', "Int": "0", "Bool": "false", "Double": "0",
              "Timestamp": "Timestamp(microsecondsSince1970: 0)"}
    if field.type in simple:
        return simple[field.type]
    decl = decls.get(field.type)
    if decl is not None and decl.kind == "intenum":
        return f"{field.type}(rawValue: 0)"
    if decl is not None and decl.kind == "stringenum":
        return f'{field.type}(rawValue: "")'
    return None


def gen_type(decl, decls, recursive=frozenset()):
    fields = fields_of(decl, decls)
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        sys.exit(f"{decl.name}: duplicate Swift names")
    hashes = {}
    for f in fields:
        h = key_hash(f.key)
        if h in hashes:
            sys.exit(f"{decl.name}: key hash collision {f.key} / {hashes[h]}")
        hashes[h] = f.key
    o = []
    o.append(doc_lines(decl.doc or [f"The `{decl.name}` object."], ""))
    o.append(f"public struct {decl.name}: Sendable, Hashable, Codable, JSONReadable {{\n")
    for f in fields:
        doc = f.doc or default_doc(f)
        if f.indirect:
            o.append(f"    /// {doc}\n")
            o.append(f"    public var {ident(f.name)}: {f.swift_type} {{\n")
            if f.optional:
                o.append(f"        get {{ _{f.name}?.value }}\n        set {{ _{f.name} = newValue.map(Indirect.init) }}\n    }}\n")
            else:
                o.append(f"        get {{ _{f.name}.value }}\n        set {{ _{f.name} = Indirect(newValue) }}\n    }}\n")
            o.append(f"    private var _{f.name}: {f.storage_type}\n")
        else:
            o.append(f"    /// {doc}\n    public var {ident(f.name)}: {f.swift_type}\n")
    # memberwise init
    params = []
    for f in fields:
        p = f"{ident(f.name)}: {f.swift_type}"
        if f.optional:
            p += " = nil"
        elif f.default is not None:
            p += f" = {f.default}"
        params.append(p)
    o.append(f"\n    /// Creates a value from its fields.\n")
    if params:
        o.append("    public init(\n        " + ",\n        ".join(params) + "\n    ) {\n")
    else:
        o.append("    public init() {\n")
    for f in fields:
        if f.indirect:
            conv = f"{ident(f.name)}.map(Indirect.init)" if f.optional else f"Indirect({ident(f.name)})"
            o.append(f"        self._{f.name} = {conv}\n")
        else:
            o.append(f"        self.{f.name} = {ident(f.name)}\n")
    o.append("    }\n")
    # coding keys
    if fields:
        o.append("\n    enum CodingKeys: String, CodingKey {\n")
        for f in fields:
            o.append(f"        case {ident(f.name)} = \"{f.key}\"\n")
        o.append("    }\n")
    # Decodable
    o.append("\n    /// Decodes the value (the reference path, through `JSONDecoder`).\n")
    o.append("    public init(from decoder: any Decoder) throws {\n")
    if fields:
        o.append("        let container = try decoder.container(keyedBy: CodingKeys.self)\n")
    else:
        o.append("        _ = try decoder.container(keyedBy: JSONReader.AnyKey.self)\n")
    for f in fields:
        t = f.type
        key = f".{ident(f.name)}"
        if f.optional:
            expr = f"try container.decodeIfPresent({t}.self, forKey: {key})"
        elif f.default is not None:
            expr = f"try container.decodeIfPresent({t}.self, forKey: {key}) ?? {f.default}"
        else:
            expr = f"try container.decode({t}.self, forKey: {key})"
        if f.indirect:
            expr = f"({expr}).map(Indirect.init)" if f.optional else f"Indirect({expr})"
            o.append(f"        self._{f.name} = {expr}\n")
        else:
            o.append(f"        self.{f.name} = {expr}\n")
    o.append("    }\n")
    # Encodable
    o.append("\n    /// Encodes the value as Discord marks it: a nil field that is nullable but not optional\n")
    o.append("    /// as null, other nil fields left out.\n")
    o.append("    public func encode(to encoder: any Encoder) throws {\n")
    if fields:
        o.append("        var container = encoder.container(keyedBy: CodingKeys.self)\n")
    else:
        o.append("        _ = encoder.container(keyedBy: JSONReader.AnyKey.self)\n")
    for f in fields:
        if f.optional and f.nullable and not f.doc_optional:
            o.append(f"        if let value = {ident(f.name)} {{ try container.encode(value, forKey: .{ident(f.name)}) }}"
                     f" else {{ try container.encodeNil(forKey: .{ident(f.name)}) }}\n")
        else:
            fn = "encodeIfPresent" if f.optional else "encode"
            o.append(f"        try container.{fn}({ident(f.name)}, forKey: .{ident(f.name)})\n")
    o.append("    }\n")
    # JSONReadable: fields with a value when absent are read straight into `self`; required ones
    # into locals, checked after the loop. When every required field has a placeholder, `self`
    # starts as the memberwise value and a mutating method reads into it: an initializer that
    # fills `self` field by field and can throw copies the whole value out at its end (every
    # reference retained, then released), and this one copies only the blank value.
    o.append("\n    /// Reads the value (the fast path).\n")
    o.append("    public init(from reader: inout JSONReader) throws {\n")
    required = [f for f in fields if not f.optional and f.default is None]
    holders = [placeholder(f, decls) for f in required]
    in_place = all(h is not None for h in holders)
    if in_place:
        args = ", ".join(f"{ident(f.name)}: {h}" for f, h in zip(required, holders))
        o.append(f"        self.init({args})\n")
        o.append("        try self.readFields(from: &reader)\n    }\n\n")
        o.append("    /// Reads the members into `self`, which holds the defaults and placeholders.\n")
        o.append("    private mutating func readFields(from reader: inout JSONReader) throws {\n")
    if required:
        o.append("        let __start = reader.offset\n")
    for f in required:
        o.append(f"        var _{f.name}: {f.type}? = nil\n")
    for f in fields:
        if f in required or in_place:
            continue
        target = f"self._{f.name}" if f.indirect else f"self.{f.name}"
        value = "nil" if f.optional else (f"Indirect({f.default})" if f.indirect else f.default)
        o.append(f"        {target} = {value}\n")
    if decl.name in recursive:
        o.append("        try reader.enterModel()\n        defer { reader.leaveModel() }\n")
    o.append("        var __cursor = try reader.beginObject()\n")
    o.append("        while let __key = try reader.nextKey(&__cursor) {\n")
    if fields:
        table = slot_table([key_hash(f.key) for f in fields])
        if table:
            # A jump table: the key's slot picks the field, one comparison confirms it.
            multiplier, shift = table
            o.append(f"            switch (__key &* 0x{multiplier:016x}) &>> {shift} {{\n")
        else:
            o.append("            switch __key {\n")
        for f in fields:
            if table:
                slot = ((key_hash(f.key) * table[0]) & 0xFFFFFFFFFFFFFFFF) >> table[1]
                o.append(f"            case {slot}:  // {f.key}\n")
                o.append(f"                guard __key == 0x{key_hash(f.key):016x} else {{ try reader.skipValue(); continue }}\n")
            else:
                o.append(f"            case 0x{key_hash(f.key):016x}:  // {f.key}\n")
            read = f"{f.type}(from: &reader)"
            if f.indirect:
                read = f"Indirect({read})"
            target = f"self._{f.name}" if f.indirect else f"self.{f.name}"
            if f in required:
                o.append(f"                _{f.name} = try {f.type}(from: &reader)\n")
            elif f.optional:
                o.append(f"                {target} = try reader.readNull() ? nil : {read}\n")
            else:
                default = f"Indirect({f.default})" if f.indirect else f.default
                o.append(f"                if try !reader.readNull() {{ {target} = try {read} }} else {{ {target} = {default} }}\n")
        o.append("            default:\n                try reader.skipValue()\n            }\n")
    else:
        o.append("            _ = __key\n            try reader.skipValue()\n")
    o.append("        }\n")
    for f in required:
        o.append(f"        guard let _{f.name} else {{ throw JSONDecodingError(.missingField(\"{f.key}\", in: \"{decl.name}\"), offset: __start) }}\n")
        target = f"self._{f.name}" if f.indirect else f"self.{f.name}"
        value = f"Indirect(_{f.name})" if f.indirect else f"_{f.name}"
        o.append(f"        {target} = {value}\n")
    o.append("    }\n}\n")
    return "".join(o)


def gen_intenum(decl):
    o = [doc_lines(decl.doc or [f"`{decl.name}`."], "")]
    raw = "Int"
    o.append(f"public struct {decl.name}: RawRepresentable, Sendable, Hashable, Codable, JSONReadable, CustomStringConvertible {{\n")
    o.append("    /// The value on the wire; values Echord does not know are kept.\n")
    o.append(f"    public var rawValue: {raw}\n")
    o.append("    /// Wraps a wire value.\n")
    o.append(f"    public init(rawValue: {raw}) {{ self.rawValue = rawValue }}\n\n")
    for name, value, doc in decl.members:
        o.append(f"    /// {doc or name}\n    public static let {ident(name)} = {decl.name}(rawValue: {value})\n")
    o.append("\n    /// The case name, or the number for a value Echord does not know.\n")
    o.append("    public var description: String {\n        switch rawValue {\n")
    for name, value, doc in decl.members:
        o.append(f"        case {value}: \"{name}\"\n")
    o.append(f"        default: \"{decl.name}(\\(rawValue))\"\n        }}\n    }}\n")
    o.append("\n    /// Decodes the wire value.\n")
    o.append(f"    public init(from decoder: any Decoder) throws {{ self.init(rawValue: try {raw}(from: decoder)) }}\n")
    o.append("    /// Encodes the wire value.\n")
    o.append("    public func encode(to encoder: any Encoder) throws { try rawValue.encode(to: encoder) }\n")
    o.append("    /// Reads the wire value.\n")
    o.append("    public init(from reader: inout JSONReader) throws { self.init(rawValue: try reader.readInt()) }\n")
    o.append("}\n")
    return "".join(o)


def gen_stringenum(decl):
    o = [doc_lines(decl.doc or [f"`{decl.name}`."], "")]
    o.append(f"public struct {decl.name}: RawRepresentable, Sendable, Hashable, Codable, JSONReadable, CustomStringConvertible {{\n")
    o.append("    /// The value on the wire; values Echord does not know are kept.\n")
    o.append("    public var rawValue: String\n")
    o.append("    /// Wraps a wire value.\n")
    o.append("    public init(rawValue: String) { self.rawValue = rawValue }\n\n")
    for name, value, doc in decl.members:
        o.append(f"    /// {doc or value}\n    public static let {ident(name)} = {decl.name}(rawValue: {value})\n")
    o.append("\n    /// The wire value.\n    public var description: String { rawValue }\n")
    o.append("\n    /// Decodes the wire value.\n")
    o.append("    public init(from decoder: any Decoder) throws { self.init(rawValue: try String(from: decoder)) }\n")
    o.append("    /// Encodes the wire value.\n")
    o.append("    public func encode(to encoder: any Encoder) throws { try rawValue.encode(to: encoder) }\n")
    o.append("    /// Reads the wire value.\n")
    o.append("    public init(from reader: inout JSONReader) throws { self.init(rawValue: try reader.readString()) }\n")
    o.append("}\n")
    return "".join(o)


def gen_flags(decl):
    string = "string" in decl.options
    o = [doc_lines(decl.doc or [f"`{decl.name}`."], "")]
    o.append(f"public struct {decl.name}: OptionSet, Sendable, Hashable, Codable, JSONReadable, CustomStringConvertible {{\n")
    o.append("    /// The bits; bits Echord does not know are kept.\n    public var rawValue: UInt64\n")
    o.append("    /// Wraps bits.\n    public init(rawValue: UInt64) { self.rawValue = rawValue }\n\n")
    for name, bit, doc in decl.members:
        o.append(f"    /// {doc or name}\n    public static let {ident(name)} = {decl.name}(rawValue: 1 << {bit})\n")
    o.append("\n    /// The names of the bits set, then any unknown bits in hex.\n")
    o.append("    public var description: String {\n        var names: [String] = []\n        var rest = rawValue\n")
    for name, bit, doc in decl.members:
        o.append(f"        if rawValue & (1 << {bit}) != 0 {{ names.append(\"{name}\"); rest &= ~(1 << {bit}) }}\n")
    o.append("        if rest != 0 { names.append(\"0x\" + String(rest, radix: 16)) }\n")
    o.append("        return \"[\" + names.joined(separator: \", \") + \"]\"\n    }\n")
    if string:
        o.append("\n    /// Decodes the bits from a decimal string.\n")
        o.append("    public init(from decoder: any Decoder) throws {\n")
        o.append("        let container = try decoder.singleValueContainer()\n")
        o.append("        let text = try container.decode(String.self)\n")
        o.append("        guard let value = UInt64(text) else {\n")
        o.append(f"            throw DecodingError.dataCorruptedError(in: container, debugDescription: \"{decl.name} is not a decimal string: \\(text)\")\n")
        o.append("        }\n        self.init(rawValue: value)\n    }\n")
        o.append("    /// Encodes the bits as a decimal string.\n")
        o.append("    public func encode(to encoder: any Encoder) throws { try String(rawValue).encode(to: encoder) }\n")
        o.append("    /// Reads the bits from a decimal string.\n")
        o.append("    public init(from reader: inout JSONReader) throws {\n")
        o.append("        guard try reader.peek() == UInt8(ascii: \"\\\"\") else { throw JSONDecodingError(.typeMismatch(expected: \"a string\"), offset: reader.offset) }\n")
        o.append("        self.init(rawValue: try reader.readSnowflakeValue())\n    }\n")
    else:
        o.append("\n    /// Decodes the bits from an integer.\n")
        o.append("    public init(from decoder: any Decoder) throws { self.init(rawValue: try UInt64(from: decoder)) }\n")
        o.append("    /// Encodes the bits as an integer.\n")
        o.append("    public func encode(to encoder: any Encoder) throws { try rawValue.encode(to: encoder) }\n")
        o.append("    /// Reads the bits from an integer.\n")
        o.append("    public init(from reader: inout JSONReader) throws { self.init(rawValue: try reader.readUInt64()) }\n")
    o.append("}\n")
    return "".join(o)


def gen_events(events, decls):
    o = ["// Generated by scripts/generate-models.py from Schema/*.schema. Do not edit.\n\n",
         "import Foundation\n\n"]
    o.append("/// The kind of a dispatch: one case per `t` Discord documents (spec §10.1).\n")
    o.append("public enum GatewayEventKind: String, Sendable, Hashable, CaseIterable, Codable {\n")
    for name, case, type_, doc, _ in events:
        o.append(f"    /// `{name}`: {doc}\n    case {case} = \"{name}\"\n")
    o.append("\n    /// The kind's position in `allCases`, for bit sets.\n")
    o.append("    public var index: Int {\n        switch self {\n")
    for i, (name, case, type_, doc, _) in enumerate(events):
        o.append(f"        case .{case}: {i}\n")
    o.append("        }\n    }\n\n")
    hashes = {}
    for name, case, type_, doc, _ in events:
        h = key_hash(name)
        if h in hashes:
            sys.exit(f"event name hash collision {name} / {hashes[h]}")
        hashes[h] = name
    o.append("    /// The kind named by the UTF-8 bytes of a `t` as written, nil for a name Echord does not\n")
    o.append("    /// know: one hash of the bytes (``JSONReader/keyHash(_:)``) and one comparison, no `String`.\n")
    o.append("    package init?(nameBytes bytes: UnsafeRawBufferPointer) {\n")
    o.append("        guard let start = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }\n")
    o.append("        let kind: GatewayEventKind\n")
    o.append("        switch JSONReader.keyHash(start, length: bytes.count, readable: bytes.count) {\n")
    for name, case, type_, doc, _ in events:
        o.append(f"        case 0x{key_hash(name):016x}: kind = .{case}\n")
    o.append("        default: return nil\n        }\n")
    o.append("        var name = kind.rawValue\n")
    o.append("        guard name.withUTF8({ $0.count == bytes.count && memcmp($0.baseAddress!, start, bytes.count) == 0 }) else { return nil }\n")
    o.append("        self = kind\n    }\n}\n\n")
    o.append("/// A dispatch, decoded: one case per event Discord documents, plus unknown events and\n")
    o.append("/// payloads that failed to decode (both with their raw bytes).\n")
    o.append("public enum GatewayEvent: Sendable, Hashable {\n")
    for name, case, type_, doc, _ in events:
        o.append(f"    /// `{name}`: {doc}\n    case {case}({type_})\n")
    o.append("    /// A dispatch Echord does not know, with its name and the raw JSON of `d`.\n")
    o.append("    case unknown(name: String, data: [UInt8])\n")
    o.append("    /// A dispatch whose payload could not be decoded, with the error and the raw bytes.\n")
    o.append("    case failed(GatewayEventDecodingFailure)\n\n")
    o.append("    /// The kind, nil for ``unknown(name:data:)`` and ``failed(_:)``.\n")
    o.append("    public var kind: GatewayEventKind? {\n        switch self {\n")
    for name, case, type_, doc, _ in events:
        o.append(f"        case .{case}: .{case}\n")
    o.append("        case .unknown, .failed: nil\n        }\n    }\n\n")
    o.append("    /// Decodes the payload of a `kind` dispatch with the fast reader.\n")
    o.append("    public static func read(_ kind: GatewayEventKind, from data: UnsafeRawBufferPointer) throws -> GatewayEvent {\n")
    o.append("        try JSONReader.withReader(data) { reader in\n")
    o.append("            switch kind {\n")
    for name, case, type_, doc, _ in events:
        o.append(f"            case .{case}: .{case}(try {type_}(from: &reader))\n")
    o.append("            }\n        }\n    }\n\n")
    o.append("    /// Decodes the payload of a `kind` dispatch with `JSONDecoder`: the reference path.\n")
    o.append("    public static func decode(_ kind: GatewayEventKind, from data: Data, using decoder: JSONDecoder) throws -> GatewayEvent {\n")
    o.append("        switch kind {\n")
    for name, case, type_, doc, _ in events:
        o.append(f"        case .{case}: .{case}(try decoder.decode({type_}.self, from: data))\n")
    o.append("        }\n    }\n\n")
    o.append("    /// The payload encoded with `encoder` (the raw bytes for unknown and failed dispatches).\n")
    o.append("    public func encodedPayload(using encoder: JSONEncoder) throws -> Data {\n        switch self {\n")
    for name, case, type_, doc, _ in events:
        o.append(f"        case .{case}(let payload): try encoder.encode(payload)\n")
    o.append("        case .unknown(_, let data): Data(data)\n        case .failed(let failure): Data(failure.data)\n")
    o.append("        }\n    }\n}\n")
    return "".join(o)


def value_rule(type_, decls, partial=False):
    """The Swift expression of a `PayloadValueRule` for a schema type."""
    if type_.startswith("["):
        return f".array({value_rule(type_[1:-1], decls, partial)})"
    simple = {"String": ".string", "Int": ".integer", "UInt64": ".integer", "Double": ".number",
              "Bool": ".bool", "Snowflake": ".snowflake", "Timestamp": ".timestamp", "JSONValue": ".any",
              "GatewayOpcode": ".integer", "ShardInfo": ".array(.integer)"}
    if type_ in simple:
        return simple[type_]
    if type_ == "GuildCreateEvent":
        return '.object("GuildCreateEvent", partial: false)'
    d = decls[type_]
    if d.kind in ("type", "shape"):
        return f'.object("{type_}", partial: {"true" if partial else "false"})'
    if d.kind == "intenum":
        return ".integer"
    if d.kind == "stringenum":
        return ".string"
    return ".decimalString" if "string" in d.options else ".integer"


def gen_rules(decls, events, opcodes):
    o = ["// Generated by scripts/generate-models.py from Schema/*.schema. Do not edit.\n\n"]
    o.append("// The rules of PayloadValidator: for every object, its keys with Discord's marks.\n\n")
    o.append("extension PayloadValidator {\n")
    names = sorted(d.name for d in decls.values() if d.kind in ("type", "shape"))
    for name in names:
        fields = fields_of(decls[name], decls)
        o.append(f"    private static let rules{name}: [String: PayloadFieldRule] = [\n")
        for f in fields:
            marks = [m for m, on in (("optional", f.doc_optional), ("nullable", f.nullable),
                                     ("undocumented", f.undocumented)) if on]
            rule = value_rule(f.validate_as or f.type, decls, f.partial)
            if f.validate_as and f.type.startswith("[") and not f.validate_as.startswith("["):
                rule = value_rule("[" + f.validate_as + "]", decls, f.partial)
            o.append(f'        "{f.key}": PayloadFieldRule({rule}, [{", ".join("." + m for m in marks)}]),\n')
        if not fields:
            o.append("        :\n")
        o.append("    ]\n")
    o.append("\n    /// The rules of every object, by schema name.\n")
    o.append("    static let objectRules: [String: [String: PayloadFieldRule]] = [\n")
    for name in names:
        o.append(f'        "{name}": rules{name},\n')
    o.append("    ]\n\n    /// The type of each dispatch's `d`, by event name.\n")
    o.append("    static let dispatchTypes: [String: String] = [\n")
    for name, case, type_, doc, _ in events:
        o.append(f'        "{name}": "{type_}",\n')
    o.append("    ]\n\n    /// The shape of `d` for the opcodes whose `d` is an object.\n")
    o.append("    static let opcodeShapes: [Int: String] = [\n")
    for _, number, shape, doc, _ in opcodes:
        o.append(f'        {number}: "{shape}",  // {doc}\n')
    o.append("    ]\n}\n")
    for name in names:
        if decls[name].kind == "type":
            o.append(f"\nextension {name}: DocumentedPayload {{}}")
    o.append("\n")
    return "".join(o)


def main():
    decls, events = {}, []
    for path in sorted(SCHEMA.glob("*.schema")):
        parse(path, decls, events)
    opcodes = [e for e in events if e[0] == "#op"]
    events = [e for e in events if e[0] != "#op"]
    # Nested objects larger than 128 bytes are stored out of line (one allocation when present,
    # 8 bytes when nil), so a model stays cheap to copy: all inline, a Message measured 6,001 bytes
    # and a GatewayEvent 9,113. Small ones (a few numbers or strings) stay inline.
    sizes = {}

    def size_of(name):
        if name in sizes:
            return sizes[name]
        sizes[name] = 8  # a recursive reference is boxed anyway
        total = 0
        for f in fields_of(decls[name], decls):
            total += field_size(f)
        sizes[name] = total
        return total

    def field_size(f):
        t = f.type
        if f.indirect or t.startswith("["):
            raw = 8
        elif t in ("String", "JSONValue") or (t in decls and decls[t].kind == "stringenum"):
            raw = 16
        elif t == "Bool":
            raw = 1
        elif t == "ShardInfo":
            raw = 16
        elif t in decls and decls[t].kind == "type":
            raw = size_of(t)
        else:
            raw = 8
        if f.optional and raw % 8 == 0 and t not in ("String", "JSONValue") and not t.startswith("[") and not f.indirect:
            raw += 1
        return (raw + 7) // 8 * 8

    for d in decls.values():
        if d.kind == "type":
            for m in d.members:
                if isinstance(m, Field) and m.type in decls and decls[m.type].kind == "type" and size_of(m.type) > 128:
                    m.indirect = True
                    sizes.clear()
    known = set(decls) | PRIMITIVES | {"GuildCreateEvent", "ShardInfo", "GatewayOpcode"}
    for d in decls.values():
        if d.kind in ("type", "shape"):
            for f in fields_of(d, decls):
                for base in (f.type.strip("[]"), (f.validate_as or "String").strip("[]")):
                    if base not in known:
                        sys.exit(f"{d.name}.{f.key}: unknown type {base}")
    files = {}
    recursive = recursive_types(decls)
    for d in decls.values():
        if d.kind == "shape":
            continue
        body = {"type": lambda d: gen_type(d, decls, recursive), "intenum": gen_intenum,
                "stringenum": gen_stringenum, "flags": gen_flags}[d.kind](d)
        files.setdefault(d.file, []).append(body)
    outputs = {}
    for stem, bodies in files.items():
        name = "".join(p[:1].upper() + p[1:] for p in stem.split("-")) + ".swift"
        outputs[name] = ("// Generated by scripts/generate-models.py from Schema/" + stem +
                         ".schema. Do not edit.\n\nimport Foundation\n\n" + "\n".join(bodies))
    outputs["GatewayEvent.swift"] = gen_events(events, decls)
    outputs["PayloadRules.swift"] = gen_rules(decls, events, opcodes)
    check = "--check" in sys.argv
    stale = []
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in outputs.items():
        path = OUT / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not check:
            path.write_text(text)
    for path in OUT.glob("*.swift"):
        if path.name not in outputs:
            stale.append(path.name)
            if not check:
                path.unlink()
    if check and stale:
        sys.exit("generated models are out of date: " + ", ".join(stale) + " (run scripts/generate-models.py)")
    print(f"{len(decls)} declarations, {len(events)} events, {len(outputs)} files" +
          (f", {len(stale)} updated" if stale and not check else ""))


if __name__ == "__main__":
    main()
