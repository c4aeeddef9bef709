package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/repartd/repartd/repartition"
)

func cmdRoute(args []string, getenv func(string) string, io stdio) error {
	fs := newFlags("route [--key SCHEMA.TABLE=COL[,COL...]]...",
		"Read DMS Kinesis payloads as JSON Lines on stdin; print one JSON object per line with its\n"+
			"kind, schema, table, operation, routing key, PartitionKey, ExplicitHashKey and key source.", io.err)
	var keys keyFlag
	fs.Var(&keys, "key", keyUsage)
	if err := parseFlags(fs, args, getenv); err != nil {
		return usageError(err)
	}
	rules, err := keys.keyRules()
	if err != nil {
		return usageError(err)
	}
	return route(io.in, io.out, repartition.NewRouter(rules, repartition.Learned{}))
}

// route writes one routing line per input line. Lines may be of any length.
func route(in io.Reader, out io.Writer, r *repartition.Router) error {
	br := bufio.NewReaderSize(in, 1<<20)
	bw := bufio.NewWriterSize(out, 1<<16)
	var (
		d    repartition.Decision
		long []byte
		buf  []byte
	)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read stdin: %w", err)
		}
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if k := len(line); k > 0 && line[k-1] == '\n' {
			line = line[:k-1]
		}
		if k := len(line); k > 0 && line[k-1] == '\r' {
			line = line[:k-1]
		}
		r.Route(line, &d)
		buf = appendRouteJSON(buf[:0], n, &d)
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("write stdout: %w", err)
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	return nil
}

// appendRouteJSON formats one route output line (contract: README "repartd
// route"). line is a number; every other field a string.
func appendRouteJSON(b []byte, line int, d *repartition.Decision) []byte {
	b = append(b, `{"line":`...)
	b = strconv.AppendInt(b, int64(line), 10)
	b = append(b, `,"kind":"`...)
	b = append(b, d.Kind.String()...)
	b = append(b, '"')
	str := func(name string, v []byte) {
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		b = appendJSONString(b, v)
	}
	if d.Kind != repartition.KindInvalid || d.Schema != nil {
		str("schema", d.Schema)
	}
	if d.Kind != repartition.KindInvalid || d.Table != nil {
		str("table", d.Table)
	}
	if d.Kind != repartition.KindInvalid || d.Operation != nil {
		str("operation", d.Operation)
	}
	if d.Kind != repartition.KindInvalid {
		b = append(b, `,"key":"`...)
		b = repartition.AppendPartitionKey(b, d.Key)
		b = append(b, `","partition_key":"`...)
		b = repartition.AppendPartitionKey(b, d.Key)
		b = append(b, `","explicit_hash_key":"`...)
		b = repartition.AppendExplicitHashKey(b, d.Key)
		b = append(b, `","key_source":"`...)
		b = append(b, d.KeySource.String()...)
		b = append(b, '"')
	}
	if d.Reason != "" {
		str("reason", []byte(d.ReasonText()))
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string. s is valid UTF-8 (the
// scanner rejects anything else), so only quotes, backslashes and control
// characters need escaping.
func appendJSONString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
