package seatinit

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"reflect"
	"testing"
)

// fillConfig sets every field of a Config, found by reflection, to a
// value of its own: a field added to Config but not to the wire format
// then fails the round trip.
func fillConfig(t *testing.T) *Config {
	t.Helper()
	c := &Config{}
	fill(t, reflect.ValueOf(c).Elem(), "cfg")
	return c
}

func fill(t *testing.T, v reflect.Value, name string) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(name + " \"é\"\n\x00\xff")
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(len(name))*1000 + 7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		v.Set(reflect.ValueOf([]string{name + "-1", "", name + "-3"}))
	case reflect.Map:
		v.Set(reflect.ValueOf(map[string]string{"/etc/passwd": "root:x:0:0::/root:/bin/sh\n", "/etc/" + name: "", "/etc/hosts": name}))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), name)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fill(t, v.Field(i), name+"."+v.Type().Field(i).Name)
		}
	default:
		t.Fatalf("Config field %s: kind %s has no test value", name, v.Kind())
	}
}

// TestConfigWireRoundTrip: every field of Config survives the wire format,
// and the reader takes exactly one message, leaving what follows (a warm
// seat's claim) in the pipe.
func TestConfigWireRoundTrip(t *testing.T) {
	for _, c := range []*Config{fillConfig(t), {}, {Hostname: "seat-1", Args: []string{"workspace"}}} {
		msg, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		claim := `{"hostname":"seat-2"}` + "\n"
		r := bytes.NewReader(append(msg, claim...))
		got, err := ReadConfig(r)
		if err != nil {
			t.Fatalf("read %+v: %v", c, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
		}
		if rest, _ := io.ReadAll(r); string(rest) != claim {
			t.Errorf("left in the pipe: %q, want the claim %q", rest, claim)
		}
	}
}

// TestConfigWireRejectsBadInput: a cut, oversized or unknown message is
// an error, never a panic or a half-filled config taken as whole.
func TestConfigWireRejectsBadInput(t *testing.T) {
	msg, err := fillConfig(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(msg); n++ {
		if _, err := ReadConfig(bytes.NewReader(msg[:n])); err == nil {
			t.Fatalf("a message cut at %d of %d bytes was read", n, len(msg))
		}
	}
	for _, bad := range [][]byte{
		{0xff},                      // unknown field
		{tagHostname, 0x05, 'a'},    // string longer than the message
		{tagHomeFD},                 // number missing
		{tagEtc, 0x01, 'a'},         // /etc file without content
		{tagRoot, 0xff, 0xff, 0xff}, // length cut
	} {
		var c Config
		if err := c.UnmarshalBinary(bad); err == nil {
			t.Errorf("% x: decoded as %+v, want an error", bad, c)
		}
	}
	big := binary.LittleEndian.AppendUint32(nil, maxConfig+1)
	if _, err := ReadConfig(bytes.NewReader(big)); err == nil {
		t.Error("a message over the size limit was accepted")
	}
}

func ExampleConfig_MarshalBinary() {
	msg, _ := (&Config{Hostname: "seat-1", Warm: true}).MarshalBinary()
	fmt.Printf("% x\n", msg)
	// Output: 09 00 00 00 08 06 73 65 61 74 2d 31 13
}
