package procfs

import (
	"encoding/binary"
	"slices"
	"testing"
)

// dirent encodes one linux_dirent64 record, padded to 8 bytes as the kernel does.
func dirent(name string) []byte {
	reclen := (direntName + len(name) + 1 + 7) &^ 7
	b := make([]byte, reclen)
	binary.NativeEndian.PutUint64(b, 1)
	binary.NativeEndian.PutUint16(b[direntReclen:], uint16(reclen))
	copy(b[direntName:], name)
	return b
}

func TestAppendDirents(t *testing.T) {
	var b []byte
	for _, name := range []string{".", "..", "1", "self", "4242", "0", "007", "2147483647", "2147483648", "sys"} {
		b = append(b, dirent(name)...)
	}
	if got, want := appendDirents(b, nil), []int32{1, 4242, 2147483647}; !slices.Equal(got, want) {
		t.Errorf("appendDirents = %v; want %v", got, want)
	}
	// A record cut short (reclen past the end) ends the walk, no panic.
	if got := appendDirents(b[:len(b)-3], nil); len(got) != 3 {
		t.Errorf("truncated buffer gave %v; want the 3 whole records' pids", got)
	}
}

func FuzzAppendDirents(f *testing.F) {
	f.Add(append(dirent("42"), dirent("self")...))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, pid := range appendDirents(b, nil) {
			if pid <= 0 {
				t.Fatalf("pid %d from %v", pid, b)
			}
		}
	})
}
