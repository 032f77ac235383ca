package provlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Canonicalize returns the RFC 8785 (JCS) canonical form of one JSON
// document: object members sorted by their UTF-16 code units, no
// insignificant white space, numbers as ECMAScript prints them, strings
// with the minimal escaping. Duplicate member names, trailing data,
// numbers outside the IEEE 754 double range and invalid UTF-8 are errors.
func Canonicalize(doc []byte) ([]byte, error) {
	if !utf8.Valid(doc) {
		return nil, errors.New("jcs: the document is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out bytes.Buffer
	if err := canonValue(dec, &out, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("jcs: data after the JSON value")
	}
	return out.Bytes(), nil
}

// CanonicalizeValue marshals v with encoding/json and canonicalizes the
// result (see [Canonicalize]).
func CanonicalizeValue(v interface{}) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Canonicalize(b)
}

const maxJCSDepth = 128

func canonValue(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("jcs: %w", err)
	}
	return canonToken(dec, tok, out, depth)
}

type member struct {
	key  string
	u16  []uint16
	body []byte
}

func canonToken(dec *json.Decoder, tok json.Token, out *bytes.Buffer, depth int) error {
	if depth > maxJCSDepth {
		return errors.New("jcs: nested too deeply")
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			out.WriteByte('[')
			first := true
			for dec.More() {
				if !first {
					out.WriteByte(',')
				}
				first = false
				if err := canonValue(dec, out, depth+1); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return fmt.Errorf("jcs: %w", err)
			}
			out.WriteByte(']')
		case '{':
			var members []member
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return fmt.Errorf("jcs: %w", err)
				}
				k, ok := kt.(string)
				if !ok {
					return errors.New("jcs: an object key is not a string")
				}
				if seen[k] {
					return fmt.Errorf("jcs: duplicate member %q", k)
				}
				seen[k] = true
				var body bytes.Buffer
				if err := canonValue(dec, &body, depth+1); err != nil {
					return err
				}
				members = append(members, member{key: k, u16: utf16.Encode([]rune(k)), body: body.Bytes()})
			}
			if _, err := dec.Token(); err != nil {
				return fmt.Errorf("jcs: %w", err)
			}
			sort.Slice(members, func(i, j int) bool { return lessUTF16(members[i].u16, members[j].u16) })
			out.WriteByte('{')
			for i, m := range members {
				if i > 0 {
					out.WriteByte(',')
				}
				writeJCSString(out, m.key)
				out.WriteByte(':')
				out.Write(m.body)
			}
			out.WriteByte('}')
		default:
			return fmt.Errorf("jcs: unexpected %v", t)
		}
	case string:
		writeJCSString(out, t)
	case json.Number:
		s, err := canonNumber(string(t))
		if err != nil {
			return err
		}
		out.WriteString(s)
	case bool:
		if t {
			out.WriteString("true")
		} else {
			out.WriteString("false")
		}
	case nil:
		out.WriteString("null")
	default:
		return fmt.Errorf("jcs: unexpected token %v", tok)
	}
	return nil
}

func lessUTF16(a, b []uint16) bool {
	n := len(a)
	if len(b) < n {
		n = len(b)
	}
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

func canonNumber(lit string) (string, error) {
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return "", fmt.Errorf("jcs: number %s is not an IEEE 754 double", lit)
	}
	return FormatNumber(f)
}

// FormatNumber prints f as ECMAScript's Number.prototype.toString does
// (RFC 8785 §3.2.2.3): the shortest decimal that round-trips, in fixed
// notation for 1e-6 <= |f| < 1e21 and exponent notation otherwise; -0
// prints as 0. NaN and the infinities are errors.
func FormatNumber(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("jcs: %v is not a JSON number", f)
	}
	if f == 0 {
		return "0", nil
	}
	sign := ""
	if f < 0 {
		sign = "-"
		f = -f
	}
	var s string
	if f >= 1e-6 && f < 1e21 {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	} else {
		s = strconv.FormatFloat(f, 'e', -1, 64)
		// Go prints e+09 / e-07; ECMAScript e+9 / e-7.
		if i := strings.IndexByte(s, 'e'); i > 0 && len(s) > i+3 && s[i+2] == '0' {
			s = s[:i+2] + s[i+3:]
		}
	}
	return sign + s, nil
}

func writeJCSString(out *bytes.Buffer, s string) {
	out.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\b':
			out.WriteString(`\b`)
		case '\f':
			out.WriteString(`\f`)
		case '\n':
			out.WriteString(`\n`)
		case '\r':
			out.WriteString(`\r`)
		case '\t':
			out.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(out, `\u%04x`, r)
			} else {
				out.WriteRune(r)
			}
		}
	}
	out.WriteByte('"')
}
