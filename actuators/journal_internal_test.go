package actuators

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sampleRecords are records of each kind the journal holds.
func sampleRecords() []journalRecord {
	return []journalRecord{
		{Seq: 1, Op: opSet, Knob: KnobGovernor, Target: "cpu0", Original: "powersave", Set: "performance", UnixNano: 1},
		{Seq: 2, Op: opSet, Knob: knobHierarchy, Target: "", Original: "absent", Set: "present", UnixNano: 2},
		{Seq: 3, Op: opSet, Knob: KnobNice, Target: "pid:4242", PID: 4242, Start: 987654, Original: "0", Set: "5",
			Threads: map[int]string{4242: "0", 4243: "-2"}, UnixNano: 3},
		{Seq: 4, Op: opForget, Knob: KnobGovernor, Target: "cpu0", Original: "powersave", Set: "performance", UnixNano: 4},
		{Seq: 5, Op: opSet, Knob: KnobCgroupMember, Target: "pid:7", PID: 7, Start: 1, Original: "cpu:/;cpuset:/", Set: "background"},
	}
}

func encodeAll(t testing.TB, recs []journalRecord) []byte {
	t.Helper()
	b := []byte(journalMagic)
	for i := range recs {
		var err error
		if b, err = encodeRecord(b, &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestJournalRoundTrip(t *testing.T) {
	recs := sampleRecords()
	b := encodeAll(t, recs)
	got, good, err := decodeJournal(b)
	if err != nil || good != len(b) {
		t.Fatalf("decodeJournal() = %d good of %d, %v", good, len(b), err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Errorf("decodeJournal() = %+v; want %+v", got, recs)
	}
	// Every cut inside the last record is a torn append: the records
	// before it survive and the good length says where to cut.
	last := len(encodeAll(t, recs[:4]))
	for cut := last; cut < len(b); cut++ {
		got, good, err := decodeJournal(b[:cut])
		if err != nil || good != last || len(got) != 4 {
			t.Errorf("decodeJournal(cut at %d) = %d records, good %d, %v; want 4, %d, nil", cut, len(got), good, err, last)
		}
	}
	// A magic cut short is a journal whose creation was cut short.
	for cut := 0; cut <= len(journalMagic); cut++ {
		wantGood := 0
		if cut == len(journalMagic) {
			wantGood = cut
		}
		got, good, err := decodeJournal(b[:cut])
		if err != nil || good != wantGood || len(got) != 0 {
			t.Errorf("decodeJournal(%q) = %d records, good %d, %v; want none, %d", b[:cut], len(got), good, err, wantGood)
		}
	}
}

func TestJournalCorrupt(t *testing.T) {
	recs := sampleRecords()
	good := encodeAll(t, recs)
	second := len(encodeAll(t, recs[:1]))
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	reseq := sampleRecords()
	reseq[2].Seq = 2
	badOp := sampleRecords()
	badOp[1].Op = "delete"
	badKnob := sampleRecords()
	badKnob[1].Knob = "fan.speed"
	zeroLen := bytes.Clone(good)
	binary.BigEndian.PutUint32(zeroLen[second:], 0)
	tests := []struct {
		name   string
		b      []byte
		off    int64
		reason string
	}{
		{"magic", flip(0), 0, "bad magic"},
		{"short magic", []byte("GAMX"), 0, "bad magic"},
		{"payload bit", flip(second + headerSize + 3), int64(second), "checksum"},
		{"crc bit", flip(second + 5), int64(second), "checksum"},
		{"length", zeroLen, int64(second), "record length 0"},
		{"sequence", encodeAll(t, reseq), int64(len(encodeAll(t, reseq[:2]))), "sequence 2 after 2"},
		{"op", encodeAll(t, badOp), int64(second), "unknown op"},
		{"knob", encodeAll(t, badKnob), int64(second), "unknown knob"},
	}
	for _, tt := range tests {
		_, _, err := decodeJournal(tt.b)
		var de *decodeError
		if !errors.As(err, &de) || de.off != tt.off || !strings.Contains(de.reason, tt.reason) {
			t.Errorf("decodeJournal(%s) = %v; want an error at %d saying %q", tt.name, err, tt.off, tt.reason)
		}
	}
}

// TestJournalFile appends, reopens, truncates a torn tail and rewrites.
func TestJournalFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "j")
	j, recs, err := openJournal(path, false)
	if err != nil || len(recs) != 0 {
		t.Fatalf("openJournal(new) = %v, %v", recs, err)
	}
	if _, _, err := openJournal(path, false); !errors.Is(err, ErrJournalLocked) {
		t.Errorf("openJournal(locked) = %v; want ErrJournalLocked", err)
	}
	in := sampleRecords()
	for i := range in {
		if err := j.append(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.close(); err != nil {
		t.Fatal(err)
	}
	// A torn append: half a record at the end.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	extra := sampleRecords()[0]
	extra.Seq = 99
	torn, _ := encodeRecord(nil, &extra)
	f.Write(torn[:len(torn)/2])
	f.Close()

	j, recs, err = openJournal(path, false)
	if err != nil {
		t.Fatalf("openJournal(torn) = %v", err)
	}
	if !reflect.DeepEqual(recs, in) {
		t.Errorf("openJournal(torn) = %+v; want %+v", recs, in)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
		t.Errorf("openJournal(torn) left %d bytes; want the %d of whole records", len(after), len(b))
	}
	if err := j.rewrite(in[:1]); err != nil {
		t.Fatal(err)
	}
	next := sampleRecords()[1]
	if err := j.append(&next); err != nil {
		t.Fatal(err)
	}
	j.close()
	_, recs, err = openJournal(path, false)
	if err != nil || len(recs) != 2 || recs[1].Seq != 2 || recs[1].Knob != knobHierarchy {
		t.Errorf("after rewrite and append: %+v, %v; want 2 records, the second seq 2", recs, err)
	}
}

func TestReplay(t *testing.T) {
	recs := sampleRecords()
	again := recs[2]
	again.Seq, again.Set = 6, "10"
	recs = append(recs, again)
	live := replay(recs)
	var got []string
	for _, r := range live {
		got = append(got, r.Knob+"="+r.Set)
	}
	// cpu0 was forgotten; the nice record is superseded by the newest.
	want := []string{knobHierarchy + "=present", KnobCgroupMember + "=background", KnobNice + "=10"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("replay() = %v; want %v", got, want)
	}
}

// FuzzJournal: the decoder never panics, a journal it accepts re-encodes
// to the same records, and its good prefix decodes alone.
func FuzzJournal(f *testing.F) {
	f.Add(encodeAll(f, sampleRecords()))
	f.Add(encodeAll(f, sampleRecords()[:1]))
	f.Add([]byte(journalMagic))
	f.Add([]byte{})
	b := encodeAll(f, sampleRecords())
	f.Add(b[:len(b)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, good, err := decodeJournal(b)
		if err != nil {
			var de *decodeError
			if !errors.As(err, &de) || de.off < 0 || de.off > int64(len(b)) {
				t.Fatalf("decodeJournal() = %v; want a decodeError inside the input", err)
			}
			return
		}
		if good > len(b) {
			t.Fatalf("good = %d > %d", good, len(b))
		}
		again, good2, err := decodeJournal(b[:good])
		if err != nil || good2 != good || !reflect.DeepEqual(again, recs) {
			t.Fatalf("decoding the good prefix: %v, %d, %v; want %d records, %d", len(again), good2, err, len(recs), good)
		}
		if len(recs) == 0 {
			return
		}
		re := []byte(journalMagic)
		for i := range recs {
			if re, err = encodeRecord(re, &recs[i]); err != nil {
				t.Fatal(err)
			}
		}
		back, _, err := decodeJournal(re)
		if err != nil || !reflect.DeepEqual(back, recs) {
			t.Fatalf("re-encoded journal decodes to %+v, %v; want %+v", back, err, recs)
		}
	})
}

// FuzzJournalPayload frames arbitrary payloads with a valid length and
// checksum, so the fuzzer reaches the record decoder and its checks (a
// random journal almost never passes the CRC).
func FuzzJournalPayload(f *testing.F) {
	for _, r := range sampleRecords() {
		b, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"seq":1,"op":"set","knob":"process.nice","target":"pid:1","pid":-1}`))
	f.Add([]byte(`{"seq":1}{"seq":2}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) == 0 {
			return
		}
		b := []byte(journalMagic)
		b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
		b = binary.BigEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
		b = append(b, payload...)
		recs, good, err := decodeJournal(b)
		if err != nil {
			return
		}
		if len(recs) != 1 || good != len(b) {
			t.Fatalf("decodeJournal(one framed record) = %d records, good %d of %d", len(recs), good, len(b))
		}
		if err := recs[0].validate(); err != nil {
			t.Fatalf("accepted a record that does not validate: %v", err)
		}
		re, err := encodeRecord([]byte(journalMagic), &recs[0])
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := decodeJournal(re)
		if err != nil || !reflect.DeepEqual(back, recs) {
			t.Fatalf("re-encoded record decodes to %+v, %v; want %+v", back, err, recs)
		}
	})
}
