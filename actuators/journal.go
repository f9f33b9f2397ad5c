package actuators

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The journal file format, version 1:
//
//	file   = magic record*
//	magic  = "GAMESAJ1" (8 bytes)
//	record = length  uint32, big endian: the payload's size in bytes
//	         crc     uint32, big endian: CRC-32C (Castagnoli) of the payload
//	         payload JSON of one journalRecord, length bytes
//
// Records are only ever appended, each written with one write(2) and
// fsync'd before the change it describes is made. A record cut short at the
// end of the file (a crash inside the append) is dropped at open: its
// change was never made. Any other damage (bad magic, a checksum that does
// not match, a payload that does not decode, sequence numbers that do not
// rise) makes the whole journal untrusted (JournalError). The journal is
// compacted by writing the live records to a temporary file, fsyncing it,
// renaming it over the journal and fsyncing the directory.
const (
	journalMagic = "GAMESAJ1"
	headerSize   = 8
	// maxRecord bounds one payload: a process with 100 000 threads needs
	// about 2 MB of per-thread originals.
	maxRecord = 8 << 20
)

// Record operations.
const (
	opSet    = "set"    // the knob was set; Original is what to restore
	opForget = "forget" // an earlier set for the key was not made after all
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journalRecord is one journal entry. For a process knob, PID and Start
// (the process's start time, /proc/<pid>/stat field 22, in clock ticks
// since boot) identify the process, so that a reused pid is never touched.
type journalRecord struct {
	Seq      uint64 `json:"seq"`
	Op       string `json:"op"`
	Knob     string `json:"knob"`
	Target   string `json:"target"`
	PID      int    `json:"pid,omitempty"`
	Start    uint64 `json:"start,omitempty"`
	Original string `json:"original"`
	Set      string `json:"set"`
	// Threads holds each thread's original for knobs that Linux keeps
	// per thread (affinity, nice, I/O priority, policy); Original is then
	// the main thread's, used for threads started after the change.
	Threads map[int]string `json:"threads,omitempty"`
	// UnixNano is when the record was written, for people reading it.
	UnixNano int64 `json:"time"`
}

// key identifies what a record is about: knob, target and process.
func (r *journalRecord) key() string {
	return r.Knob + "\x00" + r.Target + "\x00" + strconv.FormatUint(r.Start, 10)
}

// validate checks the fields every record must have.
func (r *journalRecord) validate() error {
	switch {
	case r.Op != opSet && r.Op != opForget:
		return fmt.Errorf("unknown op %q", r.Op)
	case !journalledKnob(r.Knob):
		return fmt.Errorf("unknown knob %q", r.Knob)
	case r.PID < 0:
		return fmt.Errorf("negative pid %d", r.PID)
	case strings.ContainsRune(r.Target, 0):
		// key() separates its parts with NUL.
		return fmt.Errorf("target %q holds a NUL", r.Target)
	}
	return nil
}

// encodeRecord appends r's framed encoding to dst.
func encodeRecord(dst []byte, r *journalRecord) ([]byte, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return dst, fmt.Errorf("encode journal record: %w", err)
	}
	if len(payload) > maxRecord {
		return dst, fmt.Errorf("encode journal record: %d bytes, over the %d limit", len(payload), maxRecord)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...), nil
}

// decodeError is a journal that cannot be trusted, at off after n records.
type decodeError struct {
	off    int64
	n      int
	reason string
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("byte %d: %s", e.off, e.reason)
}

// decodeJournal parses a whole journal. It returns the records and the
// length of the good prefix: shorter than b when the last record was cut
// short (a torn append, safe to drop). An empty b is an empty journal (the
// file was created but the magic never written).
func decodeJournal(b []byte) ([]journalRecord, int, error) {
	if len(b) == 0 {
		return nil, 0, nil
	}
	if len(b) < len(journalMagic) {
		if bytes.HasPrefix([]byte(journalMagic), b) {
			return nil, 0, nil
		}
		return nil, 0, &decodeError{0, 0, "not a GAMESA journal (bad magic)"}
	}
	if string(b[:len(journalMagic)]) != journalMagic {
		return nil, 0, &decodeError{0, 0, "not a GAMESA journal (bad magic)"}
	}
	var recs []journalRecord
	off := len(journalMagic)
	var lastSeq uint64
	for off < len(b) {
		if len(b)-off < headerSize {
			return recs, off, nil
		}
		n := binary.BigEndian.Uint32(b[off:])
		sum := binary.BigEndian.Uint32(b[off+4:])
		if n == 0 || n > maxRecord {
			return nil, 0, &decodeError{int64(off), len(recs), fmt.Sprintf("record length %d outside [1, %d]", n, maxRecord)}
		}
		if uint64(len(b)-off-headerSize) < uint64(n) {
			return recs, off, nil
		}
		payload := b[off+headerSize : off+headerSize+int(n)]
		if got := crc32.Checksum(payload, castagnoli); got != sum {
			return nil, 0, &decodeError{int64(off), len(recs), fmt.Sprintf("checksum %08x, record says %08x", got, sum)}
		}
		var r journalRecord
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, 0, &decodeError{int64(off), len(recs), fmt.Sprintf("record does not decode: %v", err)}
		}
		if dec.More() {
			return nil, 0, &decodeError{int64(off), len(recs), "record has trailing data"}
		}
		if err := r.validate(); err != nil {
			return nil, 0, &decodeError{int64(off), len(recs), err.Error()}
		}
		if r.Seq <= lastSeq {
			return nil, 0, &decodeError{int64(off), len(recs), fmt.Sprintf("sequence %d after %d", r.Seq, lastSeq)}
		}
		lastSeq = r.Seq
		recs = append(recs, r)
		off += headerSize + int(n)
	}
	return recs, off, nil
}

// journal is the open journal file, locked for this process.
type journal struct {
	path string
	f    *os.File // opened for appending
	lock *os.File // holds the flock; closing it releases the lock
	seq  uint64   // the last sequence number written
	n    int      // records in the file
	buf  []byte   // reused encoding buffer
}

// openJournal locks and reads the journal at path, creating it when
// missing, and returns the records it holds. A torn tail is cut off (and
// the cut fsync'd) so later appends follow a whole record. A corrupt
// journal returns a *JournalError, and with salvage the good records
// before the damage instead, the damaged file kept as path+".corrupt".
func openJournal(path string, salvage bool) (*journal, []journalRecord, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("actuators: journal directory: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("actuators: journal lock: %w", err)
	}
	if err := lockFile(lock); err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("actuators: journal %s: %w", path, err)
	}
	j := &journal{path: path, lock: lock}
	recs, err := j.load(salvage)
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	return j, recs, nil
}

// load reads the file and opens it for appending.
func (j *journal) load(salvage bool) ([]journalRecord, error) {
	b, err := os.ReadFile(j.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("actuators: read journal: %w", err)
	}
	recs, good, derr := decodeJournal(b)
	if derr != nil {
		de := derr.(*decodeError)
		jerr := &JournalError{Path: j.path, Offset: de.off, Records: de.n, Reason: de.reason}
		if !salvage {
			return nil, jerr
		}
		// Keep what decodes before the damage; the damaged file stays
		// beside the journal for a person to look at.
		recs = salvageJournal(b, de.off)
		if err := os.WriteFile(j.path+".corrupt", b, 0o600); err != nil {
			return nil, fmt.Errorf("actuators: keep corrupt journal: %w", err)
		}
		if err := j.rewrite(recs); err != nil {
			return nil, err
		}
		return recs, nil
	}
	if len(b) == 0 || good < len(b) || err != nil {
		// New, empty, or torn: write it afresh so that it starts with
		// the magic and ends on a whole record.
		if err := j.rewrite(recs); err != nil {
			return nil, err
		}
		return recs, nil
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("actuators: open journal: %w", err)
	}
	j.f = f
	j.n = len(recs)
	if len(recs) > 0 {
		j.seq = recs[len(recs)-1].Seq
	}
	return recs, nil
}

// salvageJournal decodes the records before off, the first bad byte.
func salvageJournal(b []byte, off int64) []journalRecord {
	if off <= int64(len(journalMagic)) {
		return nil
	}
	recs, _, err := decodeJournal(b[:off])
	if err != nil {
		return nil
	}
	return recs
}

// append writes recs with one write and fsyncs; the records are durable
// when it returns nil.
func (j *journal) append(recs ...*journalRecord) error {
	if j.f == nil {
		return fmt.Errorf("actuators: journal: %w", ErrClosed)
	}
	buf := j.buf[:0]
	seq := j.seq
	for _, r := range recs {
		seq++
		r.Seq = seq
		var err error
		if buf, err = encodeRecord(buf, r); err != nil {
			return fmt.Errorf("actuators: journal %s: %w", j.path, err)
		}
	}
	j.buf = buf
	if _, err := j.f.Write(buf); err != nil {
		return fmt.Errorf("actuators: append to journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("actuators: fsync journal %s: %w", j.path, err)
	}
	j.seq = seq
	j.n += len(recs)
	return nil
}

// rewrite replaces the journal with recs (renumbered from 1), atomically:
// a crash leaves either the old file or the new one.
func (j *journal) rewrite(recs []journalRecord) error {
	tmp := j.path + ".tmp"
	buf := []byte(journalMagic)
	for i := range recs {
		recs[i].Seq = uint64(i + 1)
		var err error
		if buf, err = encodeRecord(buf, &recs[i]); err != nil {
			return fmt.Errorf("actuators: journal %s: %w", j.path, err)
		}
	}
	if err := writeFileSync(tmp, buf); err != nil {
		return fmt.Errorf("actuators: rewrite journal: %w", err)
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return fmt.Errorf("actuators: rewrite journal: %w", err)
	}
	if err := syncDir(filepath.Dir(j.path)); err != nil {
		return fmt.Errorf("actuators: rewrite journal: %w", err)
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("actuators: open journal: %w", err)
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f = f
	j.n = len(recs)
	j.seq = uint64(len(recs))
	return nil
}

// close releases the file and the lock.
func (j *journal) close() error {
	var err error
	if j.f != nil {
		err = j.f.Close()
		j.f = nil
	}
	if j.lock != nil {
		err = errors.Join(err, j.lock.Close())
		j.lock = nil
	}
	return err
}

// writeFileSync writes a new file and fsyncs it.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// syncDir fsyncs a directory, so a rename or a new name in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
