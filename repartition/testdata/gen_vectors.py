#!/usr/bin/env python3
"""Writes keys.jsonl, the routing-key test vectors of package repartition.

    python3 repartition/testdata/gen_vectors.py   # from the repository root

The expected keys come from this file alone, never from the Go code: it holds
its own XXH64 (seed 0) and formats the 128-bit ExplicitHashKey with Python's
integers. It does not scan JSON for raw tokens either: each vector names the
raw token bytes it expects for every key column, and the generator only checks
that they occur in the payload and decode to what json.loads finds there.
Python 3 standard library only; the output is deterministic (no clocks, no
randomness, fixed member order), so a rerun must leave keys.jsonl unchanged.

Vector fields (one JSON object per line):
  name               unique, snake_case
  rules              --key rules given to NewKeyRules, in order
  records            payloads fed in order to one Router; the last is checked
  records_base64     instead of records, for payloads that are not UTF-8
  kind               data | control | invalid
  key_source         columns | control | table | "" (invalid)
  schema, table      decoded names the key material starts with
  columns            key columns, in key order (empty for table-level keys)
  tokens             raw JSON token of each key column, exactly as in the payload
  material_hex       schema 00 table (00 token)... in hex
  key                XXH64(material), 16 lowercase hex digits
  partition_key      the PartitionKey (same text as key)
  explicit_hash_key  decimal of (key << 64) | key
  reason_contains    invalid only: a part of Decision.Reason
"""

import base64
import json
import os
import sys

MASK64 = (1 << 64) - 1
P1 = 11400714785074694791
P2 = 14029467366897019727
P3 = 1609587929392839161
P4 = 9650029242287828579
P5 = 2870177450012600261


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & MASK64


def _round(acc, lane):
    acc = (acc + lane * P2) & MASK64
    return (_rotl(acc, 31) * P1) & MASK64


def _merge(acc, v):
    acc ^= _round(0, v)
    return (acc * P1 + P4) & MASK64


def _u64(b, i):
    return int.from_bytes(b[i:i + 8], "little")


def _u32(b, i):
    return int.from_bytes(b[i:i + 4], "little")


def xxh64(data, seed=0):
    """XXH64 as specified in xxHash's doc/xxhash_spec.md."""
    n, i = len(data), 0
    if n >= 32:
        v1 = (seed + P1 + P2) & MASK64
        v2 = (seed + P2) & MASK64
        v3 = seed & MASK64
        v4 = (seed - P1) & MASK64
        while i + 32 <= n:
            v1 = _round(v1, _u64(data, i))
            v2 = _round(v2, _u64(data, i + 8))
            v3 = _round(v3, _u64(data, i + 16))
            v4 = _round(v4, _u64(data, i + 24))
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & MASK64
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + P5) & MASK64
    h = (h + n) & MASK64
    while i + 8 <= n:
        h ^= _round(0, _u64(data, i))
        h = (_rotl(h, 27) * P1 + P4) & MASK64
        i += 8
    if i + 4 <= n:
        h ^= (_u32(data, i) * P1) & MASK64
        h = (_rotl(h, 23) * P2 + P3) & MASK64
        i += 4
    while i < n:
        h ^= (data[i] * P5) & MASK64
        h = (_rotl(h, 11) * P1) & MASK64
        i += 1
    h ^= h >> 33
    h = (h * P2) & MASK64
    h ^= h >> 29
    h = (h * P3) & MASK64
    h ^= h >> 32
    return h


def decimal128(key):
    """Decimal text of (key << 64) | key, by repeated division (then checked
    against Python's own int formatting)."""
    v = (key << 64) | key
    digits = []
    while True:
        v, d = divmod(v, 10)
        digits.append(chr(ord("0") + d))
        if v == 0:
            break
    s = "".join(reversed(digits))
    assert s == str((key << 64) | key)
    return s


def self_test():
    # Published XXH64 values (xxHash's sanity checks and python-xxhash README).
    known = {
        b"": 0xEF46DB3751D8E999,
        b"a": 0xD24EC4F1A98C6E5B,
        b"abc": 0x44BC2CF5AD770999,
        # 39 bytes: exercises the 32-byte stripe loop.
        b"Nobody inspects the spammish repetition": 0xFBCEA83C8A378BF1,
    }
    for data, want in known.items():
        got = xxh64(data)
        if got != want:
            sys.exit("xxh64(%r) = %016x, want %016x" % (data, got, want))
    assert decimal128(0) == "0"
    assert decimal128(1) == "18446744073709551617"
    assert decimal128(MASK64) == str((1 << 128) - 1)


# ---------------------------------------------------------------------------
# Payload helpers. Payloads are written as raw JSON text on purpose: the raw
# bytes are what is under test.

TS = "2025-03-02T09:00:00.000200Z"


def meta(rt="data", op="insert", schema="sales", table="orders", extra=""):
    """A compact DMS metadata object, members in DMS's order."""
    s = '{"timestamp":"%s","record-type":"%s","operation":"%s",' % (TS, rt, op)
    s += '"partition-key-type":"%s",' % ("task-id" if rt == "control" else "schema-table")
    s += '"schema-name":"%s","table-name":"%s"%s}' % (schema, table, extra)
    return s


def data_rec(data, schema="sales", table="orders", op="insert", extra=""):
    return '{"data":%s,"metadata":%s}' % (data, meta("data", op, schema, table, extra))


def create_table(pk, schema="sales", table="orders"):
    """create-table with control details; pk is the raw primary-key JSON."""
    ctl = ('{"table-def":{"columns":{"order_id":{"type":"INT32","nullable":false},'
           '"status":{"type":"STRING","length":16,"nullable":true}},'
           '"primary-key":%s,"collation-name":"utf8mb4_0900_ai_ci"}}' % pk)
    return '{"control":%s,"metadata":%s}' % (ctl, meta("control", "create-table", schema, table))


def drop_table(schema="sales", table="orders"):
    return '{"control":{},"metadata":%s}' % meta("control", "drop-table", schema, table)


TXN = (',"transaction-id":8841,"transaction-record-id":1,"prev-transaction-id":8840,'
       '"prev-transaction-record-id":3,"commit-timestamp":"2025-03-02T08:59:59.991000Z",'
       '"stream-position":"00000003/2A00F1C8.2.00000003/2A00F1C8"')

# ---------------------------------------------------------------------------
# The vectors. A valid one names its columns and raw tokens; an invalid one a
# part of its reason.

V = []


def valid(name, records, kind, source, schema, table, cols=(), tokens=(), rules=()):
    V.append(dict(name=name, rules=list(rules), records=list(records), kind=kind,
                  key_source=source, schema=schema, table=table,
                  columns=list(cols), tokens=list(tokens)))


def invalid(name, records, reason, rules=(), raw=False):
    V.append(dict(name=name, rules=list(rules), records=list(records), kind="invalid",
                  key_source="", schema="", table="", columns=[], tokens=[],
                  reason_contains=reason, raw=raw))


def col(name, records, tokens, cols=("order_id",), rules=("sales.orders=order_id",),
        schema="sales", table="orders", source="columns"):
    valid(name, records, "data", source, schema, table, cols, tokens, rules)


# --- single and composite keys
col("single_int_key_full_load",
    ['{"data":{"order_id":1001,"status":"NEW"},"metadata":{"timestamp":"2025-03-02T08:15:00.412300Z",'
     '"record-type":"data","operation":"load","partition-key-type":"primary-key",'
     '"partition-key-value":"sales.orders.1001","schema-name":"sales","table-name":"orders"}}'],
    ["1001"])
col("composite_key_in_rule_order",
    [data_rec('{"line_no":3,"order_id":1001,"sku":"A-7"}', table="order_lines")],
    ["1001", "3"], cols=("order_id", "line_no"), rules=("sales.order_lines=order_id,line_no",),
    table="order_lines")
col("composite_key_reversed_rule_order",
    [data_rec('{"line_no":3,"order_id":1001,"sku":"A-7"}', table="order_lines")],
    ["3", "1001"], cols=("line_no", "order_id"), rules=("sales.order_lines=line_no,order_id",),
    table="order_lines")

# --- string keys: hashed raw, escapes and all
col("string_key_plain", [data_rec('{"order_id":"A-1001"}')], ['"A-1001"'])
col("string_key_escaped_quote", [data_rec(r'{"order_id":"say \"hi\""}')], [r'"say \"hi\""'])
col("string_key_escaped_backslash", [data_rec(r'{"order_id":"C:\\tmp\\x"}')], [r'"C:\\tmp\\x"'])
col("string_key_u00e9_escape_kept_raw", [data_rec(r'{"order_id":"caf\u00e9"}')], [r'"caf\u00e9"'])
col("string_key_raw_utf8_differs_from_escape", [data_rec('{"order_id":"café"}')], ['"café"'])
col("string_key_surrogate_pair_escape", [data_rec(r'{"order_id":"\ud83d\ude00"}')], [r'"\ud83d\ude00"'])
col("string_key_raw_4byte_utf8", [data_rec('{"order_id":"😀"}')], ['"😀"'])
col("string_key_lone_surrogate_escape", [data_rec(r'{"order_id":"\ud800x"}')], [r'"\ud800x"'])
col("string_key_solidus_and_controls_escaped", [data_rec(r'{"order_id":"a\/b\n\t\u0000"}')],
    [r'"a\/b\n\t\u0000"'])
col("string_key_empty", [data_rec('{"order_id":""}')], ['""'])

# --- numbers: literal text, never a parsed value
col("number_negative", [data_rec('{"order_id":-42}')], ["-42"])
col("number_negative_zero", [data_rec('{"order_id":-0}')], ["-0"])
col("number_exponent", [data_rec('{"order_id":6.02e23}')], ["6.02e23"])
col("number_exponent_overflows_float64", [data_rec('{"order_id":1E+400}')], ["1E+400"])
col("number_big_int_beyond_uint64", [data_rec('{"order_id":123456789012345678901234567890}')],
    ["123456789012345678901234567890"])
col("number_big_int_scientific_dms", [data_rec('{"order_id":1.2345678901234567E+19}')],
    ["1.2345678901234567E+19"])
col("number_one_point_zero", [data_rec('{"order_id":1.0}')], ["1.0"])
col("number_one", [data_rec('{"order_id":1}')], ["1"])

# --- other JSON values as key values
col("null_key_value", [data_rec('{"order_id":null}')], ["null"])
col("true_key_value", [data_rec('{"order_id":true}')], ["true"])
col("false_key_value", [data_rec('{"order_id":false}')], ["false"])
col("object_key_value_raw_with_inner_spaces", [data_rec('{"order_id":{"a": [1, 2], "b":{}}}')],
    ['{"a": [1, 2], "b":{}}'])
col("array_key_value_raw", [data_rec('{"order_id":[ 1 ,"x",null,[]]}')], ['[ 1 ,"x",null,[]]'])

# --- layout: whitespace, pretty printing, member order
col("whitespace_around_tokens_not_hashed",
    [' \r\n { "data" :\t{ "status" : "NEW" ,  "order_id"  :\n  1001 \t } , "metadata" : '
     + meta() + ' } \n'],
    ["1001"])
col("pretty_printed_tabs_dms_json_format",
    ['{\n\t"data":\t{\n\t\t"order_id":\t1001,\n\t\t"status":\t"NEW"\n\t},\n\t"metadata":\t{\n'
     '\t\t"timestamp":\t"2025-03-02T09:00:00.000200Z",\n\t\t"record-type":\t"data",\n'
     '\t\t"operation":\t"update",\n\t\t"partition-key-type":\t"schema-table",\n'
     '\t\t"schema-name":\t"sales",\n\t\t"table-name":\t"orders"\n\t}\n}'],
    ["1001"])
col("pretty_printed_crlf_indent_object_key_keeps_inner_layout",
    ['{\r\n    "data": {\r\n        "order_id": {\r\n            "k": 1\r\n        }\r\n    },\r\n'
     '    "metadata": ' + meta() + '\r\n}\r\n'],
    ['{\r\n            "k": 1\r\n        }'])
col("metadata_before_data", ['{"metadata":' + meta() + ',"data":{"order_id":1001}}'], ["1001"])
col("metadata_between_data_and_before_image",
    ['{"data":{"order_id":1002,"status":"PAID"},"metadata":' + meta(op="update", extra=TXN)
     + ',"before-image":{"order_id":1001}}'],
    ["1002"])
col("key_column_last_of_many",
    [data_rec('{"a":1,"b":[{"order_id":5}],"c":{"order_id":6},"order_id":7}')], ["7"])

# --- rule specificity
RULES4 = ("sales.orders=exact", "sales.*=by_schema", "*.orders=by_table", "*.*=any")
ROW = '{"exact":1,"by_schema":2,"by_table":3,"any":4}'
col("rule_exact_beats_all", [data_rec(ROW)], ["1"], cols=("exact",), rules=RULES4)
col("rule_schema_star_beats_star_table", [data_rec(ROW, table="items")], ["2"],
    cols=("by_schema",), rules=RULES4, table="items")
col("rule_star_table_beats_star_star", [data_rec(ROW, schema="hr")], ["3"],
    cols=("by_table",), rules=RULES4, schema="hr")
col("rule_star_star_fallback", [data_rec(ROW, schema="hr", table="people")], ["4"],
    cols=("any",), rules=RULES4, schema="hr", table="people")
col("rule_schema_star_beats_star_table_given_first_either_way", [data_rec(ROW)], ["2"],
    cols=("by_schema",), rules=("*.orders=by_table", "sales.*=by_schema"))
col("rule_table_name_with_dot", [data_rec('{"id":9}', table="orders.v2")], ["9"],
    cols=("id",), rules=("sales.orders.v2=id",), table="orders.v2")
col("rule_column_case_sensitive", [data_rec('{"id":1,"ID":2}')], ["2"], cols=("ID",),
    rules=("sales.orders=ID",))

# --- learned from create-table
CT = create_table('["order_id"]')
col("learned_from_create_table", [CT, data_rec('{"order_id":1001,"status":"NEW"}')], ["1001"],
    source="control", rules=())
col("rule_beats_learned", [CT, data_rec('{"order_id":1001,"code":"X9"}')], ['"X9"'],
    cols=("code",), rules=("sales.orders=code",))
col("learned_composite", [create_table('["order_id","line_no"]', table="order_lines"),
                          data_rec('{"order_id":1,"line_no":2}', table="order_lines")],
    ["1", "2"], cols=("order_id", "line_no"), source="control", rules=(), table="order_lines")
col("learned_replaced_by_later_create_table",
    [CT, create_table('["status"]'), data_rec('{"order_id":1001,"status":"NEW"}')],
    ['"NEW"'], cols=("status",), source="control", rules=())
valid("learned_forgotten_by_drop_table", [CT, drop_table(), data_rec('{"order_id":1001}')],
      "data", "table", "sales", "orders")
col("learned_again_after_drop", [CT, drop_table(), create_table('["status"]'),
                                 data_rec('{"order_id":1001,"status":"NEW"}')],
    ['"NEW"'], cols=("status",), source="control", rules=())
col("learned_per_table_only",
    [CT, create_table('["id"]', table="items"), data_rec('{"order_id":5,"id":6}', table="items")],
    ["6"], cols=("id",), source="control", rules=(), table="items")
valid("create_table_empty_primary_key_teaches_nothing",
      [create_table("[]"), data_rec('{"order_id":1001}')], "data", "table", "sales", "orders")
valid("create_table_non_string_primary_key_teaches_nothing",
      [create_table("[1]"), data_rec('{"order_id":1001}')], "data", "table", "sales", "orders")
valid("create_table_mixed_primary_key_teaches_nothing",
      [create_table('["order_id",null]'), data_rec('{"order_id":1001}')],
      "data", "table", "sales", "orders")
valid("create_table_primary_key_not_array_teaches_nothing",
      [create_table('"order_id"'), data_rec('{"order_id":1001}')], "data", "table", "sales", "orders")
valid("create_table_without_control_details_teaches_nothing",
      ['{"control":{},"metadata":' + meta("control", "create-table") + '}',
       data_rec('{"order_id":1001}')], "data", "table", "sales", "orders")
valid("create_table_without_control_member_teaches_nothing",
      ['{"metadata":' + meta("control", "create-table") + '}', data_rec('{"order_id":1001}')],
      "data", "table", "sales", "orders")
valid("create_table_table_def_without_primary_key_teaches_nothing",
      ['{"control":{"table-def":{"columns":{"order_id":{"type":"INT32"}}}},"metadata":'
       + meta("control", "create-table") + '}', data_rec('{"order_id":1001}')],
      "data", "table", "sales", "orders")
valid("create_table_without_control_member", ['{"metadata":' + meta("control", "create-table") + '}'],
      "control", "table", "sales", "orders")
col("create_table_empty_primary_key_keeps_earlier_learning",
    [CT, create_table("[]"), data_rec('{"order_id":1001}')], ["1001"], source="control", rules=())
col("learned_column_name_unescaped", [create_table(r'["order\u005fid"]'),
                                      data_rec('{"order_id":77}')],
    ["77"], source="control", rules=())
col("learned_from_escaped_table_def_members",
    ['{"control":{"t\\u0061ble-def":{"primary\\u002dkey":["order_id"]}},"metadata":'
     + meta("control", "create-table") + '}', data_rec('{"order_id":78}')],
    ["78"], source="control", rules=())
valid("table_level_key_without_rules_or_learning", [data_rec('{"order_id":1001}')],
      "data", "table", "sales", "orders")
valid("table_level_key_without_data_member",
      ['{"metadata":' + meta(op="delete") + '}'], "data", "table", "sales", "orders")

# --- escaped member names and values
col("escaped_member_name_in_data", [data_rec(r'{"order\u005fid":31}')], ["31"])
col("escaped_member_name_in_data_last_wins",
    [data_rec(r'{"order_id":1,"order\u005fid":2}')], ["2"])
col("escaped_member_names_in_metadata",
    [r'{"data":{"order_id":32},"m\u0065tadata":{"record\u002dtype":"data","operation":"insert",'
     r'"schema\u002dname":"sales","table\u002dname":"orders"}}'], ["32"])
col("escaped_top_level_data_name", [r'{"d\u0061ta":{"order_id":33},"metadata":' + meta() + '}'],
    ["33"])
col("escaped_schema_and_table_values_are_decoded",
    [r'{"data":{"order_id":34},"metadata":{"record-type":"d\u0061ta","schema-name":"s\u0061les",'
     r'"table-name":"ord\u0065rs"}}'], ["34"])
col("unicode_schema_and_table",
    [data_rec('{"id":1}', schema="ventes", table="commandes_é")], ["1"], cols=("id",),
    rules=("ventes.commandes_é=id",), schema="ventes", table="commandes_é")

# --- control records: always the table-level key
valid("control_create_table_table_level_key", [CT], "control", "table", "sales", "orders")
valid("control_drop_table_table_level_key", [drop_table()], "control", "table", "sales", "orders")
valid("control_apply_exceptions_empty_schema",
      [create_table('["TASK_NAME"]', schema="", table="awsdms_apply_exceptions")],
      "control", "table", "", "awsdms_apply_exceptions")
valid("control_task_level_empty_schema_and_table",
      ['{"control":{},"metadata":' + meta("control", "create-table", "", "") + '}'],
      "control", "table", "", "")
valid("control_missing_schema_and_table",
      ['{"control":{},"metadata":{"timestamp":"%s","record-type":"control",'
       '"operation":"rename-table"}}' % TS], "control", "table", "", "")
valid("control_non_string_schema_is_empty_part",
      ['{"control":{},"metadata":{"record-type":"control","operation":"drop-table",'
       '"schema-name":7,"table-name":"orders"}}'], "control", "table", "", "orders")
valid("control_ignores_rules", [drop_table()], "control", "table", "sales", "orders",
      rules=("*.*=order_id",))
valid("control_unknown_operation",
      ['{"control":{"whatever":[1]},"metadata":' + meta("control", "column-type-change") + '}'],
      "control", "table", "sales", "orders")

# --- operations and duplicates
col("unknown_operation_is_routed_by_record_type", [data_rec('{"order_id":40}', op="upsert")],
    ["40"])
col("missing_operation_is_fine",
    ['{"data":{"order_id":41},"metadata":{"record-type":"data","schema-name":"sales",'
     '"table-name":"orders"}}'], ["41"])
col("pk_changing_update_routes_by_new_key",
    ['{"data":{"order_id":1002,"status":"PAID"},"before-image":{"order_id":1001},"metadata":'
     + meta(op="update", extra=TXN) + '}'], ["1002"])
col("duplicate_data_member_last_wins", [data_rec('{"order_id":1,"status":"x","order_id":2}')],
    ["2"])
col("duplicate_data_object_last_wins",
    ['{"data":{"order_id":1},"data":{"order_id":2},"metadata":' + meta() + '}'], ["2"])
col("duplicate_metadata_last_wins",
    ['{"metadata":"junk","data":{"order_id":3},"metadata":' + meta() + '}'], ["3"])
col("duplicate_record_type_last_wins",
    ['{"data":{"order_id":4},"metadata":{"record-type":"control","schema-name":"sales",'
     '"table-name":"orders","record-type":"data"}}'], ["4"])
col("duplicate_schema_name_last_wins",
    ['{"data":{"order_id":5},"metadata":{"record-type":"data","schema-name":"hr",'
     '"table-name":"orders","schema-name":"sales"}}'], ["5"])

# --- invalid records
R = ("sales.orders=order_id",)
invalid("invalid_empty", [""], "empty")
invalid("invalid_whitespace_only", [" \n\t "], "empty")
invalid("invalid_not_json", ["hello, world"], "invalid JSON")
invalid("invalid_not_object_array", ['[{"metadata":{}}]'], "not a JSON object")
invalid("invalid_not_object_string", ['"data"'], "not a JSON object")
invalid("invalid_not_object_number", ["42"], "not a JSON object")
invalid("invalid_not_object_null", ["null"], "not a JSON object")
invalid("invalid_not_json_top_level_leading_zero", ["01"], "invalid JSON")
invalid("invalid_not_json_array_then_text", ["[1] x"], "invalid JSON")
invalid("invalid_truncated", [data_rec('{"order_id":1001}')[:40]], "invalid JSON",
        rules=R)
invalid("invalid_truncated_in_string", ['{"data":{"order_id":"10'], "unterminated string")
invalid("invalid_text_after_object", [data_rec('{"order_id":1}') + ' x'], "text after", rules=R)
invalid("invalid_two_objects", [data_rec('{"order_id":1}') + data_rec('{"order_id":2}')],
        "text after", rules=R)
invalid("invalid_utf8_in_string",
        [b'{"data":{"order_id":"\xff\xfe"},"metadata":' + meta().encode() + b'}'],
        "invalid UTF-8", rules=R, raw=True)
invalid("invalid_utf8_encoded_surrogate",
        [b'{"data":{"note":"\xed\xa0\x80"},"metadata":' + meta().encode() + b'}'],
        "invalid UTF-8", rules=R, raw=True)
invalid("invalid_utf8_truncated_sequence_in_member_name",
        [b'{"data":{"n\xc3":1},"metadata":' + meta().encode() + b'}'],
        "invalid UTF-8", rules=R, raw=True)
invalid("invalid_control_character_in_string", ['{"data":{"order_id":"a\tb"}}'],
        "control character")
invalid("invalid_escape", [r'{"data":{"order_id":"a\xb"}}'], "invalid escape")
invalid("invalid_u_escape", [r'{"data":{"order_id":"\u12g4"}}'], "invalid \\u escape")
invalid("invalid_number_leading_zero", ['{"data":{"order_id":01}}'], "invalid JSON")
invalid("invalid_number_bare_dot", ['{"data":{"order_id":1.}}'], "invalid number")
invalid("invalid_trailing_comma", ['{"data":{"order_id":1,}}'], "invalid JSON")
invalid("invalid_single_quotes", ["{'data':{}}"], "invalid JSON")
invalid("invalid_nan", ['{"data":{"order_id":NaN}}'], "invalid JSON")
invalid("invalid_bad_literal", ['{"data":{"order_id":tru}}'], "invalid literal")
invalid("invalid_no_metadata", ['{"data":{"order_id":1}}'], "no metadata")
invalid("invalid_metadata_string", ['{"data":{},"metadata":"data"}'], "metadata is not an object")
invalid("invalid_metadata_null", ['{"data":{},"metadata":null}'], "metadata is not an object")
invalid("invalid_metadata_array", ['{"metadata":[{"record-type":"data"}]}'],
        "metadata is not an object")
invalid("invalid_duplicate_metadata_last_not_object",
        ['{"metadata":' + meta() + ',"data":{"order_id":3},"metadata":[]}'],
        "metadata is not an object", rules=R)
invalid("invalid_missing_record_type",
        ['{"data":{"order_id":1},"metadata":{"schema-name":"sales","table-name":"orders"}}'],
        "missing record-type")
invalid("invalid_record_type_number",
        ['{"data":{"order_id":1},"metadata":{"record-type":1,"schema-name":"sales",'
         '"table-name":"orders"}}'], "record-type is not a string")
invalid("invalid_record_type_null",
        ['{"data":{"order_id":1},"metadata":{"record-type":null,"schema-name":"sales",'
         '"table-name":"orders"}}'], "record-type is not a string")
invalid("invalid_record_type_upper_case", [data_rec('{"order_id":1}').replace('"data",', '"DATA",')],
        "unknown record-type", rules=R)
invalid("invalid_record_type_operation_name",
        ['{"data":{"order_id":1},"metadata":{"record-type":"insert","schema-name":"sales",'
         '"table-name":"orders"}}'], "unknown record-type", rules=R)
invalid("invalid_record_type_empty",
        ['{"metadata":{"record-type":"","schema-name":"sales","table-name":"orders"}}'],
        "unknown record-type")
invalid("invalid_data_without_schema",
        ['{"data":{"order_id":1},"metadata":{"record-type":"data","table-name":"orders"}}'],
        "without string schema-name", rules=R)
invalid("invalid_data_schema_not_string",
        ['{"data":{"order_id":1},"metadata":{"record-type":"data","schema-name":null,'
         '"table-name":"orders"}}'], "without string schema-name", rules=R)
invalid("invalid_data_without_table",
        ['{"data":{"order_id":1},"metadata":{"record-type":"data","schema-name":"sales"}}'],
        "without string table-name", rules=R)
invalid("invalid_data_table_not_string",
        ['{"data":{"order_id":1},"metadata":{"record-type":"data","schema-name":"sales",'
         '"table-name":["orders"]}}'], "without string table-name", rules=R)
invalid("invalid_missing_configured_key_column", [data_rec('{"status":"NEW"}')],
        "missing key column", rules=R)
invalid("invalid_missing_learned_key_column", [CT, data_rec('{"status":"NEW"}')],
        "missing key column")
invalid("invalid_missing_second_composite_column", [data_rec('{"order_id":1,"line_NO":2}')],
        "missing key column", rules=("sales.orders=order_id,line_no",))
invalid("invalid_key_column_case_differs", [data_rec('{"Order_ID":1}')], "missing key column",
        rules=R)
invalid("invalid_key_column_only_in_before_image",
        ['{"data":{"status":"NEW"},"before-image":{"order_id":1},"metadata":'
         + meta(op="update") + '}'], "missing key column", rules=R)
invalid("invalid_key_column_nested_not_top_level",
        [data_rec('{"_doc":{"order_id":1}}')], "missing key column", rules=R)
invalid("invalid_key_columns_but_no_data", ['{"metadata":' + meta(op="delete") + '}'],
        "no data object", rules=R)
invalid("invalid_key_columns_but_data_not_object", [data_rec('[1001]')], "data is not an object",
        rules=R)
invalid("invalid_duplicate_data_last_not_object",
        ['{"data":{"order_id":1},"metadata":' + meta() + ',"data":null}'],
        "data is not an object", rules=R)


# ---------------------------------------------------------------------------

def check_valid(v):
    """Cross-checks a valid vector's spec against json.loads (an independent
    parser): the tokens are in the payload and decode to the column values."""
    last = v["records"][-1]
    obj = json.loads(last)
    md = obj["metadata"]
    if v["kind"] == "data":
        assert md["record-type"] == "data", v["name"]
        assert md["schema-name"] == v["schema"] and md["table-name"] == v["table"], v["name"]
    else:
        assert md["record-type"] == "control", v["name"]
        for field, want in (("schema-name", v["schema"]), ("table-name", v["table"])):
            got = md.get(field)
            assert (got if isinstance(got, str) else "") == want, v["name"]
    assert len(v["columns"]) == len(v["tokens"]), v["name"]
    assert (v["key_source"] == "table") == (len(v["columns"]) == 0), v["name"]
    for c, tok in zip(v["columns"], v["tokens"]):
        assert tok in last, (v["name"], tok)
        assert tok == tok.strip(" \t\r\n"), (v["name"], tok)
        assert json.loads(tok) == obj["data"][c], (v["name"], c, tok)


def build(v):
    out = {"name": v["name"], "rules": v["rules"]}
    if v.get("raw"):
        out["records_base64"] = [base64.b64encode(r).decode() for r in v["records"]]
    else:
        out["records"] = v["records"]
    out.update(kind=v["kind"], key_source=v["key_source"], schema=v["schema"],
               table=v["table"], columns=v["columns"], tokens=v["tokens"])
    if v["kind"] == "invalid":
        out.update(material_hex="", key="", partition_key="", explicit_hash_key="",
                   reason_contains=v["reason_contains"])
        return out
    check_valid(v)
    material = b"\x00".join([v["schema"].encode(), v["table"].encode()]
                            + [t.encode() for t in v["tokens"]])
    key = xxh64(material)
    out.update(material_hex=material.hex(), key="%016x" % key, partition_key="%016x" % key,
               explicit_hash_key=decimal128(key))
    return out


def main():
    self_test()
    names = set()
    lines = []
    for v in V:
        assert v["name"] not in names, "duplicate name " + v["name"]
        names.add(v["name"])
        lines.append(json.dumps(build(v), ensure_ascii=False))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keys.jsonl")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d vectors to %s" % (len(lines), path))


if __name__ == "__main__":
    main()
