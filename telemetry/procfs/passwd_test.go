package procfs

import (
	"maps"
	"testing"
)

func TestParsePasswd(t *testing.T) {
	in := `root:x:0:0:root:/root:/bin/bash
# a comment
+nisuser::::::
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
toor:x:0:0:another root:/root:/bin/sh
broken:x:notanumber:1::/:/bin/false
short:x
big:x:4294967296:1::/:/bin/false
:x:5:5::/:/bin/false
bytes` + "\xff" + `:x:1001:1001::/:/bin/false
last:x:65534:65534::/:/bin/false`
	want := map[uint32]string{0: "root", 1000: "alice", 1001: "bytes\uFFFD", 65534: "last"}
	if got := parsePasswd([]byte(in)); !maps.Equal(got, want) {
		t.Errorf("parsePasswd = %v; want %v", got, want)
	}
}

func TestUsersName(t *testing.T) {
	u := users{names: map[uint32]string{1000: "alice"}}
	for _, tc := range []struct {
		uid  uint32
		want string
	}{{1000, "alice"}, {0, "0"}, {4294967295, "4294967295"}} {
		if got := u.name(tc.uid); got != tc.want {
			t.Errorf("name(%d) = %q; want %q", tc.uid, got, tc.want)
		}
	}
}
